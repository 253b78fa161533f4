"""CORS headers for the upload door, which answers on the ingest server's loop past Django's
middleware (where django-cors-headers answers everything else, preflights included): the same
allowed origins and exposed headers (settings: KENSA_CORS_ALLOWED_ORIGINS)."""

from collections.abc import Iterable

from django.conf import settings


def cors_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The Access-Control-* headers of an answer to a request with these headers."""
    origin = next((value for name, value in headers if name.lower() == b"origin"), None)
    if origin is None:
        return []
    text = origin.decode("latin-1")
    if text not in settings.CORS_ALLOWED_ORIGINS:
        return [("Vary", "Origin")]
    return [
        ("Access-Control-Allow-Origin", text),
        ("Access-Control-Expose-Headers", ", ".join(settings.CORS_EXPOSE_HEADERS)),
        ("Vary", "Origin"),
    ]

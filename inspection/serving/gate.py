"""Checks of an upload at its headers, before a byte of its body is read.

daphne hands a request to Django only once its whole body has arrived (Twisted reads it first),
and Django reads it whole before the view's key check: an anonymous 300 MB upload was read in full
before its 401, and a 1 GB Content-Length with a short body held the connection unanswered
(issue 22). These checks need nothing but the headers (and this process's cache of station keys),
so they run where the headers are parsed: in daphne's request (serving/daphne.py) and, for the
ingest server, in the door itself (ingest/door.py authenticates before it reads).
"""

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from rest_framework import exceptions, status

from inspection.errors import ApiError, as_api_error
from inspection.ingest.authentication import MissingStationKey, bearer_key, checked_station
from inspection.ingest.upload import body_too_large
from lines.selectors import NOT_CACHED, station_cached

# Paths and methods whose body is an image (direct upload, tus creation and pieces).
_UPLOAD_PREFIXES = ("/api/v1/inspections/", "/api/v1/uploads/")
_BODY_METHODS = {b"POST", b"PATCH", b"PUT"}


def is_upload(method: bytes, path: bytes) -> bool:
    return method.upper() in _BODY_METHODS and path.decode("latin-1").startswith(_UPLOAD_PREFIXES)


def upload_refusal(
    *, host: bytes, authorization: bytes, content_length: int | None, max_image_bytes: int
) -> exceptions.APIException | None:
    """Why an upload with these headers is refused before its body, or None to read it.

    A key that this process has not looked up lately is checked by the view, once the body (at
    most the size limit below) is in: the database is not asked from the server's loop.
    """
    if not host_allowed(host):
        return host_invalid()
    try:
        key = bearer_key(authorization)
        if key is None:
            raise MissingStationKey()
        cached = station_cached(key)
        if cached is not NOT_CACHED:
            checked_station(cached)  # type: ignore[arg-type]  # a Station or None now
    except exceptions.APIException as exc:  # missing or invalid key, disabled station
        return exc
    too_large = body_too_large(content_length, max_image_bytes=max_image_bytes)
    return None if too_large is None else as_api_error(too_large)


def host_allowed(host: bytes) -> bool:
    """HttpRequest.get_host's check of the Host header, from the header alone."""
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _ = split_domain_port(host.decode("latin-1"))
    return bool(domain) and validate_host(domain, allowed)


def host_invalid() -> ApiError:
    return ApiError("host_invalid", "The Host header names no host this server serves.")


def headers_too_large(max_header_bytes: int) -> ApiError:
    return ApiError(
        "headers_too_large",
        f"The request's headers are larger than {max_header_bytes} bytes.",
        status.HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE,
    )

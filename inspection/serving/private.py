"""Who may read /metrics and /ready: they name every line and the state of the database.

Let in: a request with `Authorization: Bearer <KENSA_METRICS_TOKEN>` (Prometheus sends it), or one
from KENSA_METRICS_ALLOWED_NETWORKS (loopback by default: a container's own health check). In the
demo and with DEBUG (KENSA_METRICS_PUBLIC) anyone. /health stays public: it says nothing.
"""

import functools
import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework import status

from inspection.errors import ApiError, error_response

View = Callable[..., HttpResponse]


def may_read(request: HttpRequest) -> bool:
    if settings.KENSA_METRICS_PUBLIC:
        return True
    token = settings.KENSA_METRICS_TOKEN
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
            return True
    return _from_allowed_network(request.META.get("REMOTE_ADDR") or "")


@functools.cache
def _networks(networks: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in networks]


def _from_allowed_network(address: str) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:  # a Unix socket, or no address at all
        return False
    return any(client in network for network in _networks(tuple(settings.KENSA_METRICS_ALLOWED_NETWORKS)))


def private(view: View) -> View:
    """The view, for those who may read it; 403 metrics_forbidden in the API's shape for others."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_read(request):
            return error_response(
                ApiError(
                    "metrics_forbidden",
                    "Send 'Authorization: Bearer <metrics token>' or call from an allowed network.",
                    status.HTTP_403_FORBIDDEN,
                )
            )
        return view(request, *args, **kwargs)

    return guarded

"""One error shape for the whole API: `{"error": {"code": "...", "message": "...", ...}}`.

`code` is stable and machine-readable (clients switch on it); `message` is a sentence for
people and may change.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, IntegrityError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class ApiError(exceptions.APIException):
    """An error with its own stable code, raised by services and views alike."""

    def __init__(self, code: str, message: str, http_status: int = status.HTTP_400_BAD_REQUEST, **extra: Any):
        super().__init__(detail=message, code=code)
        self.status_code = http_status
        self.error_code = code
        self.extra = extra


def error_code(exc: exceptions.APIException) -> str:
    if isinstance(exc, ApiError):
        return exc.error_code
    if isinstance(exc, exceptions.ValidationError):
        return "invalid_request"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DatabaseError) and not isinstance(exc, IntegrityError):
        exc = database_unavailable(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    response.data = error_body(exc)
    if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def database_unavailable(exc: DatabaseError) -> ApiError:
    """The database is down or the connection dropped: nothing was accepted, and the station
    should retry shortly. Django reconnects on the next request."""
    logger.error("Database unavailable: %s", exc)
    return ApiError(
        "database_unavailable",
        "The database is unavailable; nothing was stored. Retry shortly.",
        status.HTTP_503_SERVICE_UNAVAILABLE,
    )


def error_body(exc: exceptions.APIException) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error_code(exc)}
    if isinstance(exc, exceptions.ValidationError):
        body["message"] = "The request has invalid fields."
        body["fields"] = exc.detail
    else:
        body["message"] = str(exc.detail)
    if isinstance(exc, ApiError):
        body.update(exc.extra)
    return {"error": body}


def error_response(exc: exceptions.APIException) -> JsonResponse:
    """The error as a plain Django response, for views that run without DRF (the upload path)."""
    response = JsonResponse(error_body(exc), status=exc.status_code)
    if exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response

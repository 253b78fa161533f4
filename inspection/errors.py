"""Refusals: one list of stable codes, a domain error for services, one JSON shape for the API.

`code` is stable and machine-readable (clients switch on it); `message` is a sentence for
people and may change. Services, tasks and commands raise `KensaError(code, message)` and know
nothing of HTTP: the edges (the DRF exception handler, the upload view and door, tus) answer it
with the status API_ERRORS gives its code, in the shape `{"error": {"code", "message", ...}}`.
`ApiError` is that answer, for the edges that choose a status of their own.
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

# Every code a client can receive in `{"error": {"code": …}}`, with its HTTP status and what it
# means: the one list that clients, the README and the tests read. A refusal with a code not
# listed here fails tests/inspection/test_error_codes.py.
API_ERRORS: dict[str, tuple[int, str]] = {
    # Who is calling (every endpoint)
    "missing_api_key": (401, "No station key was sent (Authorization: Bearer <key>)."),
    "invalid_api_key": (401, "The station key is unknown."),
    "not_authenticated": (401, "The request needs a token or a session."),
    "authentication_failed": (401, "The token or session is not valid."),
    "station_inactive": (403, "The station is switched off."),
    "permission_denied": (403, "The caller may not do this."),
    "not_found": (404, "No such object, or not one the caller may see."),
    "method_not_allowed": (405, "The endpoint does not take this HTTP method."),
    "not_acceptable": (406, "The Accept header asks for a format the API does not give."),
    "throttled": (429, "Too many requests; retry later."),
    "signin_locked": (429, "Too many failed sign-ins for this user name from this address; retry later."),
    "bad_request": (400, "The request is malformed."),
    "host_invalid": (400, "The Host header names no host this server serves (ALLOWED_HOSTS)."),
    "headers_too_large": (431, "The request line and headers exceed KENSA_MAX_HEADER_BYTES."),
    "metrics_forbidden": (403, "/metrics or /ready without the metrics token, from outside the allowed networks."),
    "invalid_request": (400, "Fields of the request are invalid (details in `fields`)."),
    "parse_error": (400, "The request body cannot be parsed."),
    "unsupported_media_type": (415, "The Content-Type is not one the endpoint takes."),
    # Uploads (direct and tus)
    "invalid_content_length": (400, "Content-Length is not a number in ASCII digits."),
    "multipart_invalid": (400, "The multipart body cannot be read."),
    "multipart_too_many_parts": (413, "The multipart body has more parts than an upload needs."),
    "multipart_too_large": (413, "The multipart body's parts or part headers exceed the server's limits."),
    "image_missing": (400, "The multipart body has no 'image' file."),
    "image_empty": (400, "The image has no bytes."),
    "image_truncated": (400, "The image's data ends early."),
    "image_corrupt": (400, "The image cannot be decoded."),
    "image_trailing_data": (400, "The file has data after the end of the image (a polyglot)."),
    "image_too_large": (413, "The image has more bytes than KENSA_MAX_IMAGE_BYTES."),
    "image_too_many_pixels": (413, "The image has more pixels than KENSA_MAX_IMAGE_PIXELS."),
    "image_unrecognized": (415, "The file is not a JPEG, PNG, BMP or TIFF image."),
    "image_format_unsupported": (415, "The Content-Type names an image format that is not accepted."),
    "content_type_mismatch": (415, "The Content-Type says one format, the file is another."),
    "serial_missing": (400, "No serial was sent."),
    "serial_invalid": (400, "The serial is too long or holds control characters."),
    "captured_at_invalid": (400, "captured_at is not ISO 8601 with an offset, or lies outside the accepted window."),
    "idempotency_key_invalid": (400, "Idempotency-Key is too long or holds control characters."),
    "idempotency_key_reused": (422, "The Idempotency-Key was used for a different image."),
    "line_invalid": (400, "The line code is not one a line can have."),
    "line_mismatch": (403, "The station belongs to another line than the one named."),
    "line_inactive": (409, "The station's line is switched off."),
    "line_has_no_model": (409, "The station's line has no inspection model."),
    "line_backlog_full": (503, "The line has queue_limit images waiting; retry after Retry-After."),
    "tus_version_unsupported": (412, "Tus-Resumable is not 1.0.0."),
    "upload_length_required": (400, "A tus upload needs Upload-Length (no deferred length)."),
    "upload_length_invalid": (400, "Upload-Length is not a whole number of bytes."),
    "upload_offset_invalid": (400, "Upload-Offset is not a whole number of bytes."),
    "upload_metadata_invalid": (400, "Upload-Metadata is not base64-encoded UTF-8."),
    "upload_content_type": (415, "A tus piece is not application/offset+octet-stream."),
    "upload_not_found": (404, "No tus upload has this id, or its bytes are gone."),
    "upload_expired": (410, "The tus upload expired."),
    "upload_offset_mismatch": (409, "Upload-Offset differs from the server's offset."),
    "upload_exceeds_length": (400, "The piece goes past the upload's length."),
    "checksum_algorithm_unsupported": (400, "Upload-Checksum names an algorithm the server does not offer."),
    "upload_checksum_invalid": (400, "Upload-Checksum is not base64."),
    "upload_checksum_mismatch": (460, "The piece does not match its Upload-Checksum."),
    # Reads (results API, inspections, parts) and the MES's API clients
    "invalid_api_token": (401, "The API token (kapi_…) matches no API client."),
    "api_client_revoked": (401, "The API client was revoked."),
    "scope_missing": (403, "The API client lacks the scope this endpoint needs."),
    "api_client_required": (403, "Only an API client can do this (acknowledgements and their filters)."),
    "parameter_unknown": (400, "A query parameter this endpoint does not take (the answer lists them)."),
    "parameter_invalid": (400, "A query parameter given twice, or a bad filter value (the answer lists the fields)."),
    "ids_invalid": (400, "`ids` is not a list of 1 to KENSA_RESULTS_MAX_PAGE_SIZE result ids."),
    "body_invalid": (400, 'The body is not exactly {"ids": [...]}.'),
    "part_not_found": (404, "No inspection of this serial on the lines the caller may see."),
    "line_not_found": (404, "No line has this code."),
    "limit_invalid": (400, "limit is not a whole number within the page size bounds."),
    "cursor_invalid": (400, "The cursor is not one this API gave out."),
    "image_link_invalid": (403, "The image link's expires or signature is not one Kensa gave out."),
    "image_link_expired": (
        403,
        "The signed image link has expired (KENSA_IMAGE_LINK_SECONDS); fetch the result again.",
    ),
    # Webhook subscriptions (API and services)
    "webhook_url_not_allowed": (
        422,
        "The receiver's URL is not http(s), or its host resolves outside KENSA_WEBHOOK_ALLOWED_NETWORKS.",
    ),
    "webhook_name_taken": (409, "A webhook subscription already has this name."),
    "webhook_limit_reached": (409, "The API client has as many webhook subscriptions as it may."),
    # Model registry (admin and commands)
    "model_check_timeout": (400, "Loading the model took longer than KENSA_MODEL_CHECK_SECONDS."),
    "model_check_crashed": (400, "Loading the model crashed its process."),
    "model_label_mismatch": (400, "The model's outputs or good labels do not fit its declared labels."),
    "model_architecture_unknown": (400, "torchvision has no model of this name."),
    "model_architecture_mismatch": (400, "The weights do not fit the architecture."),
    "model_file_invalid": (400, "The artifact is not a state dict or TorchScript archive."),
    "model_forward_failed": (400, "The model fails on a blank image."),
    "model_has_no_line": (400, "The model version belongs to no line."),
    "model_already_in_production": (400, "The model version already serves its line."),
    "model_no_previous_version": (400, "The line has no earlier model to roll back to."),
    # QA review (admin and services)
    "review_decision_invalid": (400, "The decision is not confirmed, rejected or relabelled (or pass or fail)."),
    "review_label_invalid": (400, "A relabel names no other label of the model version; other decisions name none."),
    "review_reason_required": (400, "A disposition that contradicts the model's verdict needs a reason."),
    "review_not_finished": (409, "The inspection has no verdict to review yet."),
    "dataset_empty": (409, "No reviewed inspection matches the data set export's choice."),
    "dataset_labels_differ": (409, "The data set would mix model versions with different labels."),
    # The server side
    "database_unavailable": (503, "The database is down; nothing was stored. Retry shortly."),
    "storage_unavailable": (503, "The image store could not write durably; nothing was stored. Retry shortly."),
    "internal_error": (500, "An unexpected failure (a bug): it is logged."),
}
ERROR_CODES = frozenset(API_ERRORS)


class KensaError(Exception):
    """A refusal with a stable code from API_ERRORS and a sentence for people; `extra` joins
    the error's JSON. Raised by services, so a Celery task, a command or any edge can use them."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    @property
    def http_status(self) -> int:
        return API_ERRORS[self.code][0] if self.code in API_ERRORS else status.HTTP_400_BAD_REQUEST

    def __str__(self) -> str:
        return self.message


def as_api_error(refusal: KensaError, http_status: int | None = None) -> "ApiError":
    """The refusal as the API answers it: with its code's status, unless the edge names one."""
    return ApiError(refusal.code, refusal.message, http_status or refusal.http_status, **refusal.extra)


class ApiError(exceptions.APIException):
    """A refusal as an HTTP edge answers it: a stable code with its status."""

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
    if isinstance(exc, KensaError):
        exc = as_api_error(exc)
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

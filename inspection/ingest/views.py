from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import DatabaseError, IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status

from inspection.errors import ApiError, KensaError, as_api_error, database_unavailable, error_code, error_response
from inspection.ingest.authentication import AUTHENTICATE_HEADER, MissingStationKey, station_from_authorization
from inspection.ingest.metrics import UPLOADS
from inspection.ingest.services import Accepted, inspection_create
from inspection.ingest.upload import check_content_length, upload_from_request


@csrf_exempt
def inspection_create_view(request: HttpRequest) -> HttpResponse:
    """A station sends one image of one part; Kensa answers 202 once it is stored and queued.

    A plain Django view, not DRF: this is the one request a plant sends at line rate, and DRF's
    request wrapping, negotiation and rendering cost more CPU than storing the image. The
    ingest server takes the same steps on its event loop (inspection/ingest/door.py); this view
    answers uploads that reach Django itself (daphne in the demo, tests).
    """
    if request.method != "POST":
        response = error_response(exceptions.MethodNotAllowed(str(request.method)))
        response["Allow"] = "POST"
        return response
    try:
        accepted = _accept(request)
    except exceptions.APIException as exc:
        response = error_response(exc)
        if exc.status_code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = AUTHENTICATE_HEADER
        UPLOADS.labels(outcome=error_code(exc)).inc()
        return response
    inspection = accepted.inspection
    url = request.build_absolute_uri(reverse("inspection-detail", args=[inspection.id]))
    response = JsonResponse({"id": str(inspection.id), "url": url, "status": inspection.status}, status=202)
    response["Location"] = url
    if accepted.replayed:
        response["Idempotent-Replayed"] = "true"
    UPLOADS.labels(outcome="replayed" if accepted.replayed else "accepted").inc()
    return response


def _accept(request: HttpRequest) -> Accepted:
    """Authenticate, read, validate, store and queue the upload; every refusal is an APIException."""
    # The answer's URL is built from the Host header: check it against ALLOWED_HOSTS before
    # anything is stored, so that a refused host never leaves an accepted image behind.
    request.get_host()
    try:
        station = station_from_authorization(request.headers.get("Authorization", "").encode("latin-1"))
        if station is None:
            raise MissingStationKey()
        check_content_length(request, max_image_bytes=settings.KENSA_MAX_IMAGE_BYTES)
        upload = upload_from_request(request, station, max_image_bytes=settings.KENSA_MAX_IMAGE_BYTES)
        return inspection_create(station=station, upload=upload)
    except KensaError as refusal:
        raise as_api_error(refusal) from None
    except (MultiPartParserError, RequestDataTooBig) as exc:
        raise ApiError("multipart_invalid", f"The multipart body cannot be read: {exc}") from None
    except TooManyFieldsSent:
        # From the query string (DATA_UPLOAD_MAX_NUMBER_FIELDS): refused as the door refuses it.
        raise ApiError("bad_request", "The request has too many query parameters.") from None
    except DatabaseError as exc:
        if isinstance(exc, IntegrityError):
            raise
        raise database_unavailable(exc) from None

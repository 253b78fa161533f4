from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError, database_unavailable, error_code, error_response
from inspection.api.authentication import (
    AUTHENTICATE_HEADER,
    MissingStationKey,
    StationKeyAuthentication,
    station_from_authorization,
)
from inspection.api.permissions import CanSeeInspection
from inspection.api.upload import check_content_length, upload_from_request
from inspection.metrics import UPLOADS
from inspection.models import Inspection
from inspection.services import Accepted, inspection_create
from results.api.serializers import inspection_json
from results.selectors import inspection_get

READ_AUTHENTICATION = [StationKeyAuthentication, TokenAuthentication, SessionAuthentication]


@csrf_exempt
def inspection_create_view(request: HttpRequest) -> HttpResponse:
    """A station sends one image of one part; Kensa answers 202 once it is stored and queued.

    A plain Django view, not DRF: this is the one request a plant sends at line rate, and DRF's
    request wrapping, negotiation and rendering cost more CPU than storing the image. The
    ingest server takes the same steps on its event loop (inspection/api/door.py); this view
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
    except (MultiPartParserError, RequestDataTooBig, TooManyFieldsSent) as exc:
        raise ApiError("multipart_invalid", f"The multipart body cannot be read: {exc}") from None
    except DatabaseError as exc:
        if isinstance(exc, IntegrityError):
            raise
        raise database_unavailable(exc) from None


class InspectionObjectView(APIView):
    authentication_classes = READ_AUTHENTICATION
    permission_classes = [CanSeeInspection]

    def get_inspection(self, request: Request, inspection_id: Any) -> Inspection:
        inspection = inspection_get(inspection_id)
        if inspection is None:
            raise NotFound("No inspection has this id.")
        self.check_object_permissions(request, inspection)
        return inspection


class InspectionDetailView(InspectionObjectView):
    def get(self, request: Request, inspection_id: Any) -> Response:
        return Response(inspection_json(self.get_inspection(request, inspection_id)))


class InspectionImageView(InspectionObjectView):
    """The stored image, for dashboards and the MES; storage itself is never public."""

    def get(self, request: Request, inspection_id: Any) -> FileResponse | HttpResponseRedirect:
        inspection = self.get_inspection(request, inspection_id)
        if settings.KENSA_S3_BUCKET:
            # The client fetches the bytes from object storage itself, with a link that
            # expires in minutes; nothing streams through the web process.
            return HttpResponseRedirect(default_storage.url(inspection.image_key))
        try:
            handle = default_storage.open(inspection.image_key, "rb")
        except FileNotFoundError:
            raise NotFound("The image is no longer in storage (retention may have removed it).") from None
        response = FileResponse(handle, content_type=f"image/{inspection.image_format.lower()}")
        response["Cache-Control"] = "private, max-age=3600"
        return response

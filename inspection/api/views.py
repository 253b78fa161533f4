from typing import Any, NoReturn

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect
from django.urls import reverse
from rest_framework import status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inspection.api.authentication import MissingStationKey, StationKeyAuthentication
from inspection.api.permissions import CanSeeInspection, IsStation, station_of
from inspection.api.upload import check_content_length, upload_from_request
from inspection.models import Inspection
from inspection.services import inspection_create
from results.api.serializers import InspectionSerializer
from results.selectors import inspection_get

READ_AUTHENTICATION = [StationKeyAuthentication, TokenAuthentication, SessionAuthentication]


class InspectionCreateView(APIView):
    """A station sends one image of one part; Kensa answers 202 once it is stored and queued."""

    authentication_classes = [StationKeyAuthentication]
    permission_classes = [IsStation]
    # Raw image bodies are read by upload_from_request itself, streamed, never parsed.
    parser_classes = [MultiPartParser]

    def permission_denied(self, request: Request, message: str | None = None, code: str | None = None) -> NoReturn:
        if not request.successful_authenticator:
            raise MissingStationKey()
        super().permission_denied(request, message, code)

    def post(self, request: Request) -> Response:
        check_content_length(request, max_image_bytes=settings.KENSA_MAX_IMAGE_BYTES)
        station = station_of(request)
        assert station is not None  # IsStation guarantees it
        upload = upload_from_request(request, station, max_image_bytes=settings.KENSA_MAX_IMAGE_BYTES)
        accepted = inspection_create(station=station, upload=upload)
        inspection = accepted.inspection
        url = request.build_absolute_uri(reverse("inspection-detail", args=[inspection.id]))
        body = {"id": str(inspection.id), "url": url, "status": inspection.status}
        headers = {"Location": url}
        if accepted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)


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
        return Response(InspectionSerializer(self.get_inspection(request, inspection_id)).data)


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

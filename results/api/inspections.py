"""One inspection, for its station, the MES and dashboards: its JSON and its stored image."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponseRedirect
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inspection.errors import API_ERRORS, ApiError
from inspection.ingest.authentication import StationKeyAuthentication
from inspection.ingest.openapi import IMAGE_MEDIA_TYPES
from inspection.links import image_link_problem, links_for
from inspection.models import Inspection
from inspection.payloads import inspection_json
from inspection.permissions import CanSeeInspection, visible_line_id
from results.api.parameters import parameters_check
from results.api.schema import IMAGE_REDIRECT, IMAGE_RESPONSE, INSPECTION, query, responses
from results.mes.authentication import ApiClientAuthentication
from results.mes.constants import Scope
from results.mes.permissions import HasScope, visible_line_ids
from results.mes.throttling import ApiClientRateThrottle
from results.selectors import inspection_get

if TYPE_CHECKING:
    from rest_framework.permissions import _SupportsHasPermission

# API clients first: they pass on a station's key (another prefix), which station
# authentication then takes; station authentication would refuse an API client's token.
READ_AUTHENTICATION = [ApiClientAuthentication, StationKeyAuthentication, SessionAuthentication]


class InspectionObjectView(APIView):
    authentication_classes = READ_AUTHENTICATION
    permission_classes = [CanSeeInspection, HasScope]
    throttle_classes = [ApiClientRateThrottle]
    required_scope = Scope.INSPECTIONS_READ
    stations_allowed = True  # their own line's only (CanSeeInspection)

    def get_inspection(self, request: Request, inspection_id: Any) -> Inspection:
        # Scoped in the lookup (a station's line, an API client's lines): another line's
        # inspection is as unknown as a made-up id.
        inspection = inspection_get(inspection_id, line_id=visible_line_id(request), line_ids=visible_line_ids(request))
        if inspection is None:
            raise NotFound("No inspection has this id.")
        self.check_object_permissions(request, inspection)
        return inspection


class InspectionDetailView(InspectionObjectView):
    @extend_schema(
        operation_id="inspections_retrieve",
        summary="One inspection: status, verdict, defects, model, timings",
        responses=responses(INSPECTION, "not_found", "missing_api_key", "invalid_api_key", "station_inactive"),
    )
    def get(self, request: Request, inspection_id: Any) -> Response:
        return Response(inspection_json(self.get_inspection(request, inspection_id), links=links_for(request)))


class InspectionImageView(InspectionObjectView):
    """The stored image, for dashboards and the MES; storage itself is never public.

    A signed link (`?expires=…&signature=…`, inspection/links.py, as results carry it) opens
    the image without a token or a session: the signature is the authorisation, for this one
    image until it expires. A request with either parameter is judged by the link alone.
    """

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        self.signed = "signature" in request.GET or "expires" in request.GET
        return super().initialize_request(request, *args, **kwargs)

    def get_authenticators(self) -> list[BaseAuthentication]:
        return [] if self.signed else super().get_authenticators()

    def get_permissions(self) -> Sequence["_SupportsHasPermission"]:
        return [] if self.signed else super().get_permissions()

    def get_inspection(self, request: Request, inspection_id: Any) -> Inspection:
        if not self.signed:
            return super().get_inspection(request, inspection_id)
        parameters_check(request.query_params, ["expires", "signature"])
        problem = image_link_problem(
            inspection_id, request.query_params.get("expires"), request.query_params.get("signature")
        )
        if problem is not None:
            raise ApiError(problem, API_ERRORS[problem][1], status.HTTP_403_FORBIDDEN)
        inspection = inspection_get(inspection_id)
        if inspection is None:
            raise NotFound("No inspection has this id.")
        return inspection

    @extend_schema(
        operation_id="inspections_image",
        summary="The inspection's image (with S3 storage, a redirect to a short-lived signed link)",
        description=(
            "Opened with a token or session, or with no credentials through the signed link that"
            " results carry as image_url (expires and signature, both together)."
        ),
        parameters=[
            query("expires", "From a result's image_url: when the link expires (Unix seconds).", int),
            query("signature", "From a result's image_url: the link's signature."),
        ],
        responses={
            **responses(
                IMAGE_RESPONSE,
                "not_found",
                "missing_api_key",
                "invalid_api_key",
                "station_inactive",
                "image_link_invalid",
                "image_link_expired",
                media_types=tuple(IMAGE_MEDIA_TYPES),
            ),
            302: IMAGE_REDIRECT,
        },
    )
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

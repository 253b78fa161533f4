"""GET /api/v1/parts/<serial>/: every inspection of one part, across stations and lines."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from inspection.errors import ApiError
from inspection.links import links_for
from inspection.payloads import inspections_json
from results.api.base import ClientApiView
from results.api.parameters import parameters_check
from results.api.schema import PART_PAGE, responses
from results.mes.constants import Scope
from results.mes.permissions import visible_line_ids
from results.selectors import part_inspections


class PartView(ClientApiView):
    """Oldest first, in any state (a queued one shows as queued), on the lines the caller may
    see; at most KENSA_RESULTS_MAX_PAGE_SIZE, with `has_more` when a part has more."""

    required_scope = Scope.INSPECTIONS_READ

    @extend_schema(
        operation_id="parts_retrieve",
        summary="Every inspection of a part, oldest first",
        responses=responses(PART_PAGE, "part_not_found"),
    )
    def get(self, request: Request, serial: str) -> Response:
        parameters_check(request.query_params, [])
        most = int(settings.KENSA_RESULTS_MAX_PAGE_SIZE)
        rows = part_inspections(serial=serial, line_ids=visible_line_ids(request), limit=most + 1)
        if not rows:
            raise ApiError("part_not_found", f"No inspection has the serial {serial!r}.", status.HTTP_404_NOT_FOUND)
        return Response(
            {
                "serial": serial,
                "inspections": inspections_json(rows[:most], links=links_for(request)),
                "has_more": len(rows) > most,
            }
        )

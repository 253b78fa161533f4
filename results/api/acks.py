"""POST /api/v1/results/ack: an API client acknowledges results it has taken."""

import uuid
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from inspection.errors import ApiError
from results.api.base import ClientApiView
from results.api.schema import ACK_REQUEST, ACK_RESPONSE, responses
from results.mes.constants import Scope
from results.mes.permissions import api_client_required, visible_line_ids
from results.mes.services import acknowledgements_record


def parse_ids(body: Any) -> list[uuid.UUID]:
    """`{"ids": [...]}`: 1 to KENSA_RESULTS_MAX_PAGE_SIZE result ids (a full page, acknowledged
    at once)."""
    most = int(settings.KENSA_RESULTS_MAX_PAGE_SIZE)
    if not isinstance(body, dict) or set(body) != {"ids"}:
        raise ApiError("body_invalid", 'Send a JSON object with one key: {"ids": [<result id>, ...]}.')
    ids = body["ids"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= most:
        raise ApiError("ids_invalid", f"ids must be a list of 1 to {most} result ids.")
    return [_result_id(raw, index) for index, raw in enumerate(ids)]


def _result_id(raw: object, index: int) -> uuid.UUID:
    if isinstance(raw, str) and len(raw) <= 36:
        try:
            return uuid.UUID(raw)
        except ValueError:
            pass
    raise ApiError("ids_invalid", f"ids[{index}] is not a result id.", index=index)


class ResultAckView(ClientApiView):
    """Idempotent: each id answers `acknowledged`, `already_acknowledged` or `not_found`
    (unknown, not finished, or on a line this client may not see)."""

    required_scope = Scope.RESULTS_ACK

    @extend_schema(
        operation_id="results_ack",
        summary="Acknowledge results (idempotent; per-id outcome)",
        request={"application/json": ACK_REQUEST},  # parse_ids reads a JSON object, not a form
        responses=responses(ACK_RESPONSE, "body_invalid", "ids_invalid", "parse_error", "api_client_required"),
    )
    def post(self, request: Request) -> Response:
        client = api_client_required(request)
        ids = parse_ids(request.data)
        outcomes = acknowledgements_record(client=client, inspection_ids=ids, line_ids=visible_line_ids(request))
        return Response({"results": [{"id": str(key), "outcome": outcome} for key, outcome in outcomes.items()]})

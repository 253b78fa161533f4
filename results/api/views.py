from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from inspection.errors import ApiError
from inspection.links import links_for
from inspection.parsing import LINE_CODE_RULE, ascii_int, is_line_code
from inspection.selectors import inspections_with_results
from lines.selectors import line_limited
from results.api.base import ClientApiView
from results.api.filters import ResultFilterSet
from results.api.pagination import decode_cursor, encode_cursor
from results.api.parameters import parameters_check, parameters_invalid
from results.api.schema import FILTER_HELP, RESULT_PAGE, query, responses
from results.mes.constants import Scope
from results.mes.permissions import visible_line_ids
from results.selectors import finished_payloads_after

PAGING_PARAMETERS = ("cursor", "limit")


class ResultListView(ClientApiView):
    """Finished inspections for the MES, in the order they became visible, by cursor, with
    filters (results.api.filters).

    `next_cursor` is always given: with no new results it is the cursor that was sent, so a
    poller keeps asking from the same place.
    """

    required_scope = Scope.RESULTS_READ

    @extend_schema(
        operation_id="results_list",
        summary="Finished inspections in feed order, by cursor",
        parameters=[
            query("cursor", "The next_cursor of the previous page; none for the start of the feed."),
            query("limit", "Results per page (1 to KENSA_RESULTS_MAX_PAGE_SIZE).", int),
            *(
                query(name, FILTER_HELP.get(name, f"Only results with this {name}."))
                for name in ResultFilterSet.base_filters
            ),
        ],
        responses=responses(
            RESULT_PAGE,
            "line_invalid",
            "cursor_invalid",
            "limit_invalid",
            "parameter_invalid",
            "line_not_found",
            "api_client_required",
        ),
    )
    def get(self, request: Request) -> Response:
        parameters_check(request.query_params, [*ResultFilterSet.base_filters, *PAGING_PARAMETERS])
        line = request.query_params.get("line")
        if line and not is_line_code(line):  # before the filters: a NUL must not reach PostgreSQL
            raise ApiError("line_invalid", LINE_CODE_RULE)
        cursor = request.query_params.get("cursor") or None
        after = decode_cursor(cursor) if cursor else None
        limit = self._limit(request.query_params.get("limit"))
        filterset = ResultFilterSet(
            {k: v for k, v in request.query_params.items() if k not in PAGING_PARAMETERS},
            queryset=inspections_with_results(),
            request=request,
        )
        if not filterset.is_valid():
            raise parameters_invalid(filterset.errors)
        queryset = line_limited(filterset.qs, visible_line_ids(request))
        results, last = finished_payloads_after(queryset=queryset, after=after, limit=limit, links=links_for(request))
        return Response(
            {
                "results": results,
                "next_cursor": cursor if last is None else encode_cursor(*last),
                "has_more": len(results) == limit,
            }
        )

    @staticmethod
    def _limit(raw: str | None) -> int:
        if raw is None or raw == "":
            return int(settings.KENSA_RESULTS_PAGE_SIZE)
        limit = ascii_int(raw)
        if limit is None or not 1 <= limit <= settings.KENSA_RESULTS_MAX_PAGE_SIZE:
            raise ApiError("limit_invalid", f"limit must be between 1 and {settings.KENSA_RESULTS_MAX_PAGE_SIZE}.")
        return limit

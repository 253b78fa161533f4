from django.conf import settings
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inspection.errors import ApiError
from inspection.parsing import LINE_CODE_RULE, ascii_int, is_line_code
from inspection.payloads import inspections_json
from inspection.permissions import IsPlantUser
from lines.models import ProductionLine
from results.api.pagination import cursor_after, decode_cursor
from results.selectors import finished_inspections_after


class ResultListView(APIView):
    """Finished inspections for the MES, in the order they became visible, by cursor.

    `next_cursor` is always given: with no new results it is the cursor that was sent, so a
    poller keeps asking from the same place.
    """

    permission_classes = [IsPlantUser]

    def get(self, request: Request) -> Response:
        line_id = self._line_id(request.query_params.get("line"))
        cursor = request.query_params.get("cursor") or None
        after = decode_cursor(cursor) if cursor else None
        limit = self._limit(request.query_params.get("limit"))
        rows = finished_inspections_after(line_id=line_id, after=after, limit=limit)
        next_cursor = cursor_after(rows, default=cursor)
        return Response(
            {
                "results": inspections_json(rows),
                "next_cursor": next_cursor,
                "has_more": len(rows) == limit,
            }
        )

    @staticmethod
    def _line_id(code: str | None) -> int | None:
        if not code:
            return None
        if not is_line_code(code):
            raise ApiError("line_invalid", LINE_CODE_RULE)
        line_id = ProductionLine.objects.filter(code=code).values_list("id", flat=True).first()
        if line_id is None:
            raise ApiError("line_not_found", f"No line has the code {code!r}.", status.HTTP_404_NOT_FOUND)
        return line_id

    @staticmethod
    def _limit(raw: str | None) -> int:
        if raw is None or raw == "":
            return int(settings.KENSA_RESULTS_PAGE_SIZE)
        limit = ascii_int(raw)
        if limit is None or not 1 <= limit <= settings.KENSA_RESULTS_MAX_PAGE_SIZE:
            raise ApiError("limit_invalid", f"limit must be between 1 and {settings.KENSA_RESULTS_MAX_PAGE_SIZE}.")
        return limit

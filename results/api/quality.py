"""GET /api/v1/quality/: model quality from QA's reviews, per line x model version x label, for
the MES and reports (results.review.selectors.model_quality says how each figure is counted)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from results.api.base import ClientApiView
from results.api.parameters import parameters_check
from results.api.schema import query, responses
from results.mes.constants import Scope
from results.mes.permissions import visible_line_by_code, visible_line_ids
from results.review.selectors import model_quality

RATE: dict[str, Any] = {"type": "number", "nullable": True}
COUNT: dict[str, Any] = {"type": "integer"}
QUALITY: dict[str, Any] = {
    "type": "object",
    "required": ["results"],
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["line", "model", "labels", "sampled_passes", "escapes", "escape_rate"],
                "properties": {
                    "line": {"type": "string"},
                    "model": {"type": "string", "description": "name@version"},
                    "labels": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "label": {"type": "string"},
                                "reviewed": COUNT,
                                "confirmed": COUNT,
                                "rejected": COUNT,
                                "relabelled": COUNT,
                                "precision": {**RATE, "description": "confirmed / reviewed; null when none reviewed"},
                            },
                        },
                    },
                    "sampled_passes": {**COUNT, "description": "sampled passes QA dispositioned"},
                    "escapes": {**COUNT, "description": "of those, the parts QA failed"},
                    "escape_rate": {**RATE, "description": "escapes / sampled_passes"},
                },
            },
        }
    },
}


class QualityView(ClientApiView):
    required_scope = Scope.RESULTS_READ

    @extend_schema(
        operation_id="quality_retrieve",
        summary="Model quality from QA reviews: precision per label, escapes from sampled passes",
        parameters=[query("line", "Only this line (its code); every line the caller may see by default.")],
        responses=responses(QUALITY, "line_invalid", "line_not_found", "parameter_unknown", "parameter_invalid"),
    )
    def get(self, request: Request) -> Response:
        parameters_check(request.query_params, ["line"])
        line_ids = visible_line_ids(request)
        code = request.query_params.get("line")
        if code is not None:
            line_ids = frozenset({visible_line_by_code(request, code)})
        return Response({"results": [row.as_json() for row in model_quality(line_ids=line_ids)]})

"""Dashboard pages for operators and supervisors: the lines they see (lines.selectors)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from inspection.payloads import inspections_json
from lines.models import ProductionLine
from lines.selectors import line_limited, visible_line_ids_for_user
from results.api.pagination import cursor_after
from results.selectors import recent_inspections

RECENT_ON_FIRST_PAINT = 40


@login_required
def line_index(request: HttpRequest) -> HttpResponse:
    lines = line_limited(ProductionLine.objects.order_by("code"), visible_line_ids_for_user(request.user), "id")
    return render(request, "results/index.html", {"lines": lines})


@login_required
def line_dashboard(request: HttpRequest, line_code: str) -> HttpResponse:
    # A line the user may not see is answered as one that does not exist.
    visible = line_limited(
        ProductionLine.objects.select_related("inspection_model"), visible_line_ids_for_user(request.user), "id"
    )
    line = visible.filter(code=line_code).first()
    if line is None:
        raise Http404("No line has this code.")
    rows = recent_inspections(line_id=line.id, limit=RECENT_ON_FIRST_PAINT)
    # The feed resumes from here over REST after a reconnect (the live push is at most once).
    cursor = cursor_after(rows, default="") or ""
    context = {"line": line, "recent": inspections_json(rows), "cursor": cursor}
    return render(request, "results/dashboard.html", context)

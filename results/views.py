"""Dashboard pages for operators and supervisors."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from inspection.payloads import inspections_json
from lines.models import ProductionLine
from results.api.pagination import cursor_after
from results.selectors import recent_inspections

RECENT_ON_FIRST_PAINT = 40


@login_required
def line_index(request: HttpRequest) -> HttpResponse:
    return render(request, "results/index.html", {"lines": ProductionLine.objects.order_by("code")})


@login_required
def line_dashboard(request: HttpRequest, line_code: str) -> HttpResponse:
    line = get_object_or_404(ProductionLine.objects.select_related("inspection_model"), code=line_code)
    rows = recent_inspections(line_id=line.id, limit=RECENT_ON_FIRST_PAINT)
    # The feed resumes from here over REST after a reconnect (the live push is at most once).
    cursor = cursor_after(rows, default="") or ""
    context = {"line": line, "recent": inspections_json(rows), "cursor": cursor}
    return render(request, "results/dashboard.html", context)

"""Dashboard pages for operators and supervisors: the lines they see (lines.selectors)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from inspection.payloads import inspections_json
from lines.selectors import lines_visible_to
from results.api.pagination import cursor_after
from results.selectors import recent_inspections

RECENT_ON_FIRST_PAINT = 40


@login_required
def line_index(request: HttpRequest) -> HttpResponse:
    return render(request, "results/index.html", {"lines": lines_visible_to(request.user).order_by("code")})


@login_required
def line_dashboard(request: HttpRequest, line_code: str) -> HttpResponse:
    line = lines_visible_to(request.user).select_related("inspection_model").filter(code=line_code).first()
    if line is None:
        raise Http404("No line has this code.")
    rows = recent_inspections(line_id=line.id, limit=RECENT_ON_FIRST_PAINT)
    # The feed resumes from here over REST after a reconnect (the live push is at most once).
    cursor = cursor_after(rows, default="") or ""
    context = {"line": line, "recent": inspections_json(rows), "cursor": cursor}
    return render(request, "results/dashboard.html", context)

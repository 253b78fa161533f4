"""Dashboard pages for operators and supervisors."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from lines.models import ProductionLine
from results.live import inspection_json
from results.selectors import recent_inspections

RECENT_ON_FIRST_PAINT = 40


@login_required
def line_index(request: HttpRequest) -> HttpResponse:
    return render(request, "results/index.html", {"lines": ProductionLine.objects.order_by("code")})


@login_required
def line_dashboard(request: HttpRequest, line_code: str) -> HttpResponse:
    line = get_object_or_404(ProductionLine.objects.select_related("inspection_model"), code=line_code)
    recent = [inspection_json(row) for row in recent_inspections(line_id=line.id, limit=RECENT_ON_FIRST_PAINT)]
    return render(request, "results/dashboard.html", {"line": line, "recent": recent})

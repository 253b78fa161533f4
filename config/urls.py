from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from inspection import health
from results import views as dashboards

urlpatterns = [
    path("", dashboards.line_index, name="line-index"),
    path("lines/<slug:line_code>/", dashboards.line_dashboard, name="line-dashboard"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("inspection.ingest.urls")),
    path("api/v1/", include("results.api.inspection_urls")),
    path("api/v1/", include("results.api.urls")),
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("", include("django_prometheus.urls")),
]


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 for paths no view matches (e.g. a malformed inspection id), in the API's error shape."""
    body = {"error": {"code": "not_found", "message": f"Nothing is at {request.path}."}}
    return JsonResponse(body, status=404)


handler404 = not_found

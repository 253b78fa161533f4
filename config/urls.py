from django.contrib import admin
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from inspection import health
from inspection.errors import error_body
from inspection.serving.gate import host_invalid
from inspection.serving.private import private
from results import accounts
from results import views as dashboards

urlpatterns = [
    path("", dashboards.line_index, name="line-index"),
    path("lines/<slug:line_code>/", dashboards.line_dashboard, name="line-dashboard"),
    path("login/", accounts.SignInView.as_view(), name="login"),
    path("logout/", accounts.SignOutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("inspection.ingest.urls")),
    path("api/v1/", include("results.api.inspection_urls")),
    path("api/v1/", include("results.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("health", health.health, name="health"),
    path("ready", private(health.ready), name="ready"),
    path("metrics", private(ExportToDjangoView), name="prometheus-django-metrics"),
]


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 for paths no view matches (e.g. a malformed inspection id), in the API's error shape."""
    body = {"error": {"code": "not_found", "message": f"Nothing is at {request.path}."}}
    return JsonResponse(body, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """400 for what Django refuses before any view (a Host outside ALLOWED_HOSTS above all), in
    the API's error shape rather than Django's HTML page."""
    if isinstance(exception, DisallowedHost):
        body = error_body(host_invalid())
    else:
        body = {"error": {"code": "bad_request", "message": "The request is malformed."}}
    return JsonResponse(body, status=400)


handler400 = bad_request
handler404 = not_found

"""URLs of the ingest role (KENSA_ROLE=ingest): the station API only, for the server that takes
uploads (config/ingest.py). A load balancer sends `/api/v1/inspections/` and `/api/v1/uploads/`
here and everything else (pages, admin, WebSockets, the MES API) to daphne."""

from django.urls import include, path
from django_prometheus.exports import ExportToDjangoView

from config.urls import bad_request, handler400, handler404, not_found  # noqa: F401 - the same JSON 400 and 404
from inspection import health
from inspection.serving.private import private

urlpatterns = [
    path("api/v1/", include("inspection.ingest.urls")),
    path("api/v1/", include("results.api.inspection_urls")),
    path("health", health.health, name="health"),
    path("ready", private(health.ready), name="ready"),
    path("metrics", private(ExportToDjangoView), name="prometheus-django-metrics"),
]

"""Kensa's own Prometheus metrics (django-prometheus exposes them at /metrics with its own)."""

from prometheus_client import Counter

UPLOADS_SHED = Counter(
    "kensa_uploads_shed_total",
    "Uploads refused with 503 because the line's backlog was over its queue limit.",
    ["line"],
)

UPLOADS = Counter(
    "kensa_uploads_total",
    "Direct uploads (POST /api/v1/inspections/) by outcome: accepted, replayed, or the error code.",
    ["outcome"],
)

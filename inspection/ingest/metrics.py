"""Kensa's own Prometheus metrics (django-prometheus exposes them at /metrics with its own)."""

from prometheus_client import Counter, Histogram

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

# The upload server's group commit (inspection/ingest/group_commit.py): every upload of a group waits for
# all of its steps before its 202, so a slow disk, database or broker shows here first.
# From a millisecond (an idle machine) to seconds (a disk or database that stalls).
GROUP_COMMIT_SECONDS = Histogram(
    "kensa_ingest_commit_seconds",
    "Seconds a group commit of accepted uploads spent in each step: sync (images made durable "
    "on disk), insert (rows inserted and committed), push (task messages sent to the broker).",
    ["step"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
# Bound once: the writer thread times every group, and each step's series is in /metrics
# from the start, at zero, rather than from its first group.
GROUP_COMMIT_SYNC = GROUP_COMMIT_SECONDS.labels(step="sync")
GROUP_COMMIT_INSERT = GROUP_COMMIT_SECONDS.labels(step="insert")
GROUP_COMMIT_PUSH = GROUP_COMMIT_SECONDS.labels(step="push")

GROUP_COMMIT_UPLOADS = Histogram(
    "kensa_ingest_commit_uploads",
    "Uploads written by one group commit (its rows, clashing ones included).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)

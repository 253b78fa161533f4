"""Reads of inspections shaped for their JSON payload (inspection.payloads)."""

from django.db.models import Prefetch

from inspection.models import Defect, Inspection, InspectionQuerySet


def inspections_with_results() -> InspectionQuerySet:
    """Inspections with everything their JSON shows, in a fixed number of queries."""
    return Inspection.objects.select_related("line", "station", "model").prefetch_related(
        Prefetch("defects", queryset=Defect.objects.order_by("-confidence", "id"))
    )

"""An inspection's own URLs, served by daphne and by the ingest server (stations read back
what they uploaded)."""

from django.urls import path

from results.api import inspections

urlpatterns = [
    path("inspections/<uuid:inspection_id>/", inspections.InspectionDetailView.as_view(), name="inspection-detail"),
    path("inspections/<uuid:inspection_id>/image", inspections.InspectionImageView.as_view(), name="inspection-image"),
]

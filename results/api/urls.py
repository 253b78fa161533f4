from django.urls import path

from results.api import acks, parts, quality, views

urlpatterns = [
    path("results/", views.ResultListView.as_view(), name="result-list"),
    path("quality/", quality.QualityView.as_view(), name="quality"),
    path("results/ack", acks.ResultAckView.as_view(), name="result-ack"),
    # `path`: serials may hold slashes (any printable text, inspection.ingest.fields).
    path("parts/<path:serial>/", parts.PartView.as_view(), name="part-detail"),
]

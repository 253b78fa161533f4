from django.urls import path

from results.api import acks, parts, views

urlpatterns = [
    path("results/", views.ResultListView.as_view(), name="result-list"),
    path("results/ack", acks.ResultAckView.as_view(), name="result-ack"),
    # `path`: serials may hold slashes (any printable text, inspection.ingest.fields).
    path("parts/<path:serial>/", parts.PartView.as_view(), name="part-detail"),
]

from django.urls import path

from results.api import acks, parts, quality, views, webhooks

urlpatterns = [
    path("results/", views.ResultListView.as_view(), name="result-list"),
    path("quality/", quality.QualityView.as_view(), name="quality"),
    path("results/ack", acks.ResultAckView.as_view(), name="result-ack"),
    # `path`: serials may hold slashes (any printable text, inspection.ingest.fields).
    path("parts/<path:serial>/", parts.PartView.as_view(), name="part-detail"),
    path("webhooks/", webhooks.WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/<int:webhook_id>/", webhooks.WebhookDetailView.as_view(), name="webhook-detail"),
]

"""Results' own rows. Defects are written with the verdict by the worker
(inspection.models.Defect); the MES integration's rows live in results.mes, the MQTT
publishers' cursors in results.mqtt, QA's review records in results.review, webhooks in
results.webhooks."""

from results.mes.models import Acknowledgement, ApiClient
from results.mqtt.models import MqttCursor
from results.review.models import DefectReview, PartDisposition
from results.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

__all__ = [
    "Acknowledgement",
    "ApiClient",
    "DefectReview",
    "MqttCursor",
    "PartDisposition",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]

"""Reads about the MQTT publishers."""

from django.utils import timezone

from inspection.models import Inspection
from results.mqtt.models import MqttCursor
from results.selectors import finished_inspections_after


def mqtt_publisher_lags() -> dict[str, float]:
    """Per publisher, how long the oldest result after its cursor has been finished: the time
    it has been waiting to be published (0 when there is none). One indexed query each."""
    now = timezone.now()
    lags = {}
    for cursor in MqttCursor.objects.order_by("name"):
        oldest = finished_inspections_after(after=cursor.after, limit=1, queryset=Inspection.objects.all())
        finished_at = oldest[0].finished_at if oldest else None
        lags[cursor.name] = 0.0 if finished_at is None else max(0.0, (now - finished_at).total_seconds())
    return lags

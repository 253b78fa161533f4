"""Reads about the MQTT publishers."""

from django.utils import timezone

from inspection.models import Inspection
from results.mqtt.models import MqttCursor
from results.selectors import seconds_behind


def mqtt_publisher_lags() -> dict[str, float]:
    """Per publisher, how long the oldest result after its cursor has been finished: the time
    it has been waiting to be published (0 when there is none). One indexed query each."""
    now = timezone.now()
    return {
        cursor.name: seconds_behind(after=cursor.after, queryset=Inspection.objects.all(), now=now)
        for cursor in MqttCursor.objects.order_by("name")
    }

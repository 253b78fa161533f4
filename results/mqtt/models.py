"""Where each MQTT publisher is in the result feed."""

import uuid

from django.db import models


class MqttCursor(models.Model):
    """The last feed position (inspection/feed.py) that a publisher's broker acknowledged.

    One row per publisher name: a restarted publisher resumes after it, so an outage of the
    publisher or of the broker delays results and loses none. It moves only after the broker has
    acknowledged (PUBACK) every result up to it, so a result may be published twice but never
    skipped. `inspection_id` is null before the first result."""

    name = models.CharField(max_length=100, unique=True)
    feed_position = models.BigIntegerField(default=0)
    inspection_id = models.UUIDField(null=True, blank=True)
    # When the newest result published so far finished: how far behind the publisher runs.
    published_finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "MQTT cursor"

    def __str__(self) -> str:
        return f"MQTT publisher {self.name} at {self.feed_position}"

    @property
    def after(self) -> tuple[int, uuid.UUID] | None:
        """The cursor as finished_inspections_after takes it; None: from the feed's start."""
        return None if self.inspection_id is None else (self.feed_position, self.inspection_id)

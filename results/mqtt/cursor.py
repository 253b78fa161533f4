"""The publisher's place in the feed: read once at start, moved only after the broker's PUBACKs."""

from django.db import transaction
from django.utils import timezone

from inspection import feed
from inspection.models import Inspection
from results.mqtt.models import MqttCursor


@transaction.atomic
def mqtt_cursor_get_or_create(*, name: str, from_now: bool = False) -> MqttCursor:
    """The named publisher's cursor. A new one starts at the feed's beginning, so that nothing
    finished before the publisher was first started is left out, or, with `from_now`, after the
    newest visible result (a broker that should see only what finishes from now on)."""
    cursor, created = MqttCursor.objects.select_for_update().get_or_create(name=name)
    if created and from_now:
        newest = (
            Inspection.objects.filter(feed_position__lt=feed.visible_horizon())
            .order_by("-feed_position", "-id")
            .values_list("feed_position", "id", "finished_at")
            .first()
        )
        if newest is not None:
            position, inspection_id, finished_at = newest
            assert position is not None  # filtered on it
            cursor.feed_position, cursor.inspection_id, cursor.published_finished_at = (
                position,
                inspection_id,
                finished_at,
            )
            cursor.save()
    return cursor


def mqtt_cursor_advance(*, cursor: MqttCursor, to: Inspection) -> bool:
    """Move the cursor to `to` (the last result of a page the broker acknowledged), only if it
    is still where this publisher left it: False when another publisher of the same name moved
    it meanwhile (two must not run under one name; the caller reads the cursor again)."""
    assert to.feed_position is not None
    moved = MqttCursor.objects.filter(
        pk=cursor.pk, feed_position=cursor.feed_position, inspection_id=cursor.inspection_id
    ).update(
        feed_position=to.feed_position,
        inspection_id=to.id,
        published_finished_at=to.finished_at,
        updated_at=timezone.now(),
    )
    if moved:
        cursor.feed_position, cursor.inspection_id, cursor.published_finished_at = (
            to.feed_position,
            to.id,
            to.finished_at,
        )
    return bool(moved)

"""Writes on webhook subscriptions and deliveries: create and rotate, fan results out to
deliveries, claim and send due deliveries, record what came of each attempt, send again.

Every step is safe to run in several notify workers at once and to crash in the middle:
- fan-out makes a subscription's deliveries and moves its cursor in one transaction, with the
  subscription's row locked (another worker skips it), so a result is neither skipped nor made
  twice;
- sending claims due deliveries by moving `next_attempt_at` past the round's time-outs
  (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer), so a worker that dies
  mid-round hands them back when that time passes. A receiver may then see a message twice,
  with the same webhook-id: deliveries are at least once, exactly once after de-duplication.
"""

import logging
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from inspection import feed
from inspection.errors import KensaError
from inspection.links import links_for
from inspection.models import Inspection
from inspection.payloads import inspection_json
from inspection.selectors import inspections_with_results
from lines.models import ProductionLine
from results.mes.models import ApiClient
from results.selectors import finished_inspections_after
from results.webhooks import backoff
from results.webhooks.constants import (
    FAN_OUT_BATCH,
    MAX_SUBSCRIPTIONS_PER_CLIENT,
    SEND_ROUNDS_PER_THREAD,
    DeliveryState,
    EventType,
)
from results.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription, new_secret
from results.webhooks.network import NetworkRefused, resolve_target
from results.webhooks.selectors import subscription_results
from results.webhooks.sending import Message, Outcome, Result, envelope, send, shared_client

logger = logging.getLogger(__name__)

# --- subscriptions -------------------------------------------------------------------------------


def feed_end() -> tuple[int, uuid.UUID] | None:
    """The feed's last visible position: a new subscription hears of results after it."""
    last = (
        Inspection.objects.filter(feed_position__lt=feed.visible_horizon())
        .order_by("-feed_position", "-id")
        .values_list("feed_position", "id")
        .first()
    )
    if last is None or last[0] is None:
        return None
    return int(last[0]), last[1]


@transaction.atomic
def subscription_create(
    *,
    name: str,
    url: str,
    lines: Iterable[ProductionLine] = (),
    all_lines: bool = False,
    events: Sequence[str] = (EventType.INSPECTION_FINISHED,),
    api_client: ApiClient | None = None,
) -> tuple[WebhookSubscription, str]:
    """A subscription to results finished from now on; returns it with its secret (shown once).
    The receiver must be in an allowed network (`webhook_url_not_allowed`); an API client may
    hold at most MAX_SUBSCRIPTIONS_PER_CLIENT."""
    try:
        resolve_target(url)
    except NetworkRefused as exc:
        raise KensaError("webhook_url_not_allowed", f"Not an allowed receiver: {exc}.") from None
    if WebhookSubscription.objects.filter(name=name).exists():
        raise KensaError("webhook_name_taken", f"A webhook subscription is already named {name!r}.")
    if api_client is not None:
        owned = WebhookSubscription.objects.select_for_update().filter(api_client=api_client)
        if len(owned) >= MAX_SUBSCRIPTIONS_PER_CLIENT:
            raise KensaError("webhook_limit_reached", f"An API client may hold {MAX_SUBSCRIPTIONS_PER_CLIENT}.")
    subscription = WebhookSubscription(
        name=name, url=url, all_lines=all_lines, events=sorted(set(events)), api_client=api_client
    )
    secret = subscription_start(subscription)
    try:
        subscription.full_clean()
    except ValidationError as exc:
        raise KensaError("invalid_request", "; ".join(exc.messages)) from None
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError:  # the same name, made at the same moment
        raise KensaError("webhook_name_taken", f"A webhook subscription is already named {name!r}.") from None
    subscription.lines.set(list(lines))
    return subscription, secret


def subscription_start(subscription: WebhookSubscription) -> str:
    """Give a subscription being made its secret and its place in the feed (now); the secret."""
    subscription.secret = new_secret()
    end = feed_end()
    subscription.cursor_position, subscription.cursor_inspection_id = end if end else (None, None)
    return subscription.secret


@transaction.atomic
def subscription_rotate_secret(*, subscription: WebhookSubscription, now: datetime | None = None) -> str:
    """A new secret; the current one keeps signing too for KENSA_WEBHOOK_SECRET_OVERLAP_SECONDS,
    so receivers switch without a gap. Returns the new secret (shown once)."""
    now = now or timezone.now()
    locked = WebhookSubscription.objects.select_for_update().get(id=subscription.id)
    locked.previous_secret = locked.secret
    locked.previous_secret_expires_at = now + timedelta(seconds=settings.KENSA_WEBHOOK_SECRET_OVERLAP_SECONDS)
    locked.secret = new_secret()
    locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    subscription.secret = locked.secret
    subscription.previous_secret = locked.previous_secret
    subscription.previous_secret_expires_at = locked.previous_secret_expires_at
    return locked.secret


@transaction.atomic
def subscription_disable(*, subscription_id: int, reason: str, now: datetime | None = None) -> int:
    """Stop a subscription (a receiver answered 410) and cancel its pending deliveries; how many."""
    now = now or timezone.now()
    WebhookSubscription.objects.filter(id=subscription_id, active=True).update(
        active=False, disabled_at=now, disabled_reason=reason
    )
    return WebhookDelivery.objects.filter(subscription_id=subscription_id, state=DeliveryState.PENDING).update(
        state=DeliveryState.CANCELLED, next_attempt_at=None, last_error=reason
    )


# --- fan-out -------------------------------------------------------------------------------------


def deliveries_fan_out(*, batch: int = FAN_OUT_BATCH) -> int:
    """Make deliveries for every active subscription's new results; how many results were read."""
    made = 0
    for subscription_id in WebhookSubscription.objects.filter(active=True).values_list("id", flat=True):
        while True:
            read = _fan_out_step(subscription_id, batch)
            made += read
            if read < batch:
                break
    return made


@transaction.atomic
def _fan_out_step(subscription_id: int, batch: int) -> int:
    """Up to `batch` results after the subscription's cursor: their deliveries and the moved
    cursor commit together. How many results were read."""
    subscription = (
        WebhookSubscription.objects.select_for_update(skip_locked=True).filter(id=subscription_id, active=True).first()
    )
    if subscription is None or EventType.INSPECTION_FINISHED not in subscription.events:
        return 0
    rows = subscription_results(subscription).only("id", "feed_position")
    found = finished_inspections_after(after=subscription.after, limit=batch, queryset=rows)
    if not found:
        return 0
    now = timezone.now()
    deliveries = [
        WebhookDelivery(
            subscription_id=subscription.id,
            inspection_id=row.id,
            feed_position=int(row.feed_position or 0),  # in the feed: never None
            event=EventType.INSPECTION_FINISHED,
            created_at=now,
            next_attempt_at=now,
            retry_until=backoff.retry_until(now),
        )
        for row in found
    ]
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    last = found[-1]
    WebhookSubscription.objects.filter(id=subscription.id).update(
        cursor_position=last.feed_position, cursor_inspection_id=last.id
    )
    return len(found)


# --- sending -------------------------------------------------------------------------------------


def claim_lease_seconds() -> float:
    """How long a claim holds: every request of a round, one after another per thread, may take
    its time-outs (connect, write, read) in full, with room to record the outcomes."""
    return SEND_ROUNDS_PER_THREAD * 3 * settings.KENSA_WEBHOOK_TIMEOUT_SECONDS + 30


def deliveries_claim(*, limit: int, now: datetime | None = None) -> list[int]:
    """Ids of up to `limit` due deliveries of active subscriptions, claimed for one round."""
    now = now or timezone.now()
    with transaction.atomic():
        due = (
            WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .filter(subscription__active=True)
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True, of=("self",))
        )
        ids = list(due.values_list("id", flat=True)[:limit])
        if ids:
            lease = now + timedelta(seconds=claim_lease_seconds())
            WebhookDelivery.objects.filter(id__in=ids).update(next_attempt_at=lease)
    return ids


def deliveries_send(*, delivery_ids: Sequence[int]) -> dict[str, int]:
    """Send claimed deliveries, KENSA_WEBHOOK_CONCURRENCY at a time, and record each outcome."""
    deliveries = list(WebhookDelivery.objects.filter(id__in=delivery_ids).select_related("subscription"))
    wanted = {delivery.inspection_id for delivery in deliveries}
    inspections = {row.id: row for row in inspections_with_results().filter(id__in=wanted)}
    now = timezone.now()
    links = links_for()  # absolute with KENSA_PUBLIC_URL; the image link signed at sending
    superseded: list[WebhookDelivery] = []
    messages: list[tuple[WebhookDelivery, Message]] = []
    for delivery in deliveries:
        inspection = inspections.get(delivery.inspection_id)
        if inspection is None or inspection.feed_position != delivery.feed_position:
            superseded.append(delivery)  # queued again by QA: its new result gets a delivery of its own
            continue
        data = inspection_json(inspection, links=links)
        body = envelope(delivery.event, data, occurred_at=data["finished_at"])
        secrets = tuple(delivery.subscription.signing_secrets(now))
        messages.append((delivery, Message(delivery.subscription.url, delivery.message_id, body, secrets)))
    outcomes: list[Outcome] = []
    if messages:
        client = shared_client()
        with ThreadPoolExecutor(settings.KENSA_WEBHOOK_CONCURRENCY) as pool:
            outcomes = list(pool.map(lambda pair: send(client, pair[1]), messages))
    return _record(superseded, [(delivery, outcome) for (delivery, _), outcome in zip(messages, outcomes, strict=True)])


@transaction.atomic
def _record(superseded: list[WebhookDelivery], results: list[tuple[WebhookDelivery, Outcome]]) -> dict[str, int]:
    # Deliveries deleted meanwhile (with their subscription or inspection) have nothing to
    # record; the others are locked until this commits, so that none is deleted under it.
    ids = [delivery.id for delivery in superseded] + [delivery.id for delivery, _ in results]
    still = set(WebhookDelivery.objects.select_for_update().filter(id__in=ids).values_list("id", flat=True))
    superseded = [delivery for delivery in superseded if delivery.id in still]
    results = [(delivery, outcome) for delivery, outcome in results if delivery.id in still]
    now = timezone.now()
    counts = {"delivered": 0, "retrying": 0, "failed": 0, "gone": 0, "superseded": len(superseded)}
    for delivery in superseded:
        delivery.state, delivery.next_attempt_at = DeliveryState.CANCELLED, None
        delivery.last_error = "not sent: the result was queued again (its next finish is delivered on its own)"
    gone: dict[int, str] = {}
    attempts = []
    delivered: list[int] = []
    for delivery, outcome in results:
        delivery.attempts += 1
        delivery.last_error = outcome.error
        attempts.append(
            WebhookAttempt(
                delivery=delivery,
                at=now,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        if outcome.result == Result.DELIVERED:
            delivered.append(delivery.id)
            counts["delivered"] += 1
        elif outcome.result == Result.GONE:
            delivery.state, delivery.next_attempt_at = DeliveryState.CANCELLED, None
            gone[delivery.subscription_id] = outcome.error
            counts["gone"] += 1
        else:
            retry_at = backoff.next_attempt_at(attempts=delivery.attempts, give_up_at=delivery.retry_until, now=now)
            if retry_at is None:
                delivery.state, delivery.next_attempt_at = DeliveryState.FAILED, None
                counts["failed"] += 1
            else:
                delivery.next_attempt_at = retry_at
                counts["retrying"] += 1
    WebhookAttempt.objects.bulk_create(attempts)
    # The usual outcome in one statement; the others (a retry time each) row by row.
    WebhookDelivery.objects.filter(id__in=delivered).update(
        state=DeliveryState.DELIVERED, delivered_at=now, next_attempt_at=None, last_error="", attempts=F("attempts") + 1
    )
    done = set(delivered)
    changed = superseded + [delivery for delivery, _ in results if delivery.id not in done]
    if changed:
        WebhookDelivery.objects.bulk_update(changed, ["state", "attempts", "next_attempt_at", "last_error"])
    for subscription_id, reason in gone.items():
        subscription_disable(subscription_id=subscription_id, reason=reason, now=now)
    return counts


def deliveries_send_due(*, limit: int | None = None) -> dict[str, int]:
    """One round: claim what is due and send it."""
    limit = limit or SEND_ROUNDS_PER_THREAD * settings.KENSA_WEBHOOK_CONCURRENCY
    ids = deliveries_claim(limit=limit)
    if not ids:
        return {}
    try:
        return deliveries_send(delivery_ids=ids)
    except Exception:
        _release(ids)
        raise


def _release(delivery_ids: Sequence[int]) -> None:
    """Hand a failed round's claims back at once (the database dropped the connection while the
    outcomes were written, say) rather than after the claim's lease: the receivers may see some
    of them again, with the same webhook-id. Best effort: the lease covers a failure here too."""
    try:
        connection.close()  # a broken connection is replaced on the next query
        WebhookDelivery.objects.filter(id__in=delivery_ids, state=DeliveryState.PENDING).update(
            next_attempt_at=timezone.now()
        )
    except Exception:
        logger.warning("Could not hand back %d webhook deliveries; they return after the lease", len(delivery_ids))


def delivery_send_again(*, delivery: WebhookDelivery, now: datetime | None = None) -> None:
    """Make a delivery pending and due now, with the same webhook-id (receivers de-duplicate by
    it); its attempts so far are kept, and its retries run for a full period from now."""
    now = now or timezone.now()
    WebhookDelivery.objects.filter(id=delivery.id).update(
        state=DeliveryState.PENDING, next_attempt_at=now, retry_until=backoff.retry_until(now), delivered_at=None
    )

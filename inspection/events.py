"""The one "an inspection finished" event.

Every transition into a terminal state (`done`, `failed`, `expired`, poison `failed`) is written
by inspection/lifecycle/finish.py, which calls `announce_finished` with what it committed.
Subscribers are told once the transaction commits, never before and never for a rollback:
the live push to dashboards today, the MES feed, webhooks, MQTT and reports next. Features
subscribe from their AppConfig.ready(), so inspection never imports them (docs/architecture.md).

A subscriber gets the finished inspections as their JSON payloads (inspection.payloads), in the
order they were finished. Delivery to a subscriber is at most once and best effort: a failing
subscriber is logged and does not fail the inspection or the other subscribers. Anything that
must not lose a result reads the database (the feed is commit-ordered), not this event.
"""

import logging
from collections.abc import Callable, Sequence

from django.db import transaction

from inspection.payloads import InspectionPayload

logger = logging.getLogger(__name__)

FinishedSubscriber = Callable[[Sequence[InspectionPayload]], None]

_subscribers: list[FinishedSubscriber] = []


def subscribe_finished(subscriber: FinishedSubscriber) -> None:
    """Call `subscriber` with every round of finished inspections, after commit."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def unsubscribe_finished(subscriber: FinishedSubscriber) -> None:
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def announce_finished(payloads: Callable[[], Sequence[InspectionPayload]] | Sequence[InspectionPayload]) -> None:
    """Tell the subscribers, once the current transaction commits (at once in autocommit).

    `payloads` may be a function, called after commit, for writers that know only ids (it then
    reads the rows as committed): the read happens once, whatever the number of subscribers.
    """

    def deliver() -> None:
        if not _subscribers:
            return
        try:
            finished = payloads() if callable(payloads) else payloads
        except Exception:
            logger.exception("Could not read finished inspections for their subscribers")
            return
        if not finished:
            return
        for subscriber in list(_subscribers):
            try:
                subscriber(finished)
            except Exception:
                logger.exception("Subscriber %r of finished inspections failed", subscriber)

    transaction.on_commit(deliver)

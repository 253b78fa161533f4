"""Writes on API clients and their acknowledgements. Services raise domain errors (ApiError);
the admin, the command and the API call the same functions."""

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inspection.models import Inspection
from lines.models import ProductionLine
from lines.selectors import line_limited
from results.mes.constants import LAST_USED_RESOLUTION_SECONDS
from results.mes.models import Acknowledgement, ApiClient


class AckOutcome:
    ACKNOWLEDGED = "acknowledged"
    ALREADY_ACKNOWLEDGED = "already_acknowledged"
    NOT_FOUND = "not_found"


@transaction.atomic
def api_client_create(
    *, name: str, scopes: Sequence[str], lines: Iterable[ProductionLine] = (), all_lines: bool = False
) -> tuple[ApiClient, str]:
    """Create a client and return it with its token, which is shown this once only."""
    client = ApiClient(name=name, scopes=sorted(set(scopes)), all_lines=all_lines)
    token = client.set_new_token()
    client.full_clean()
    client.save()
    client.lines.set(list(lines))
    return client, token


@transaction.atomic
def api_client_rotate_token(*, client: ApiClient) -> str:
    """Give the client a new token; the old one stops working at once."""
    token = client.set_new_token()
    client.save(update_fields=["token_prefix", "token_hash"])
    return token


def api_client_revoke(*, client: ApiClient, now: datetime | None = None) -> bool:
    """Revoke the client for good; False if it was revoked already (the first time is kept)."""
    when = now or timezone.now()
    revoked = ApiClient.objects.filter(id=client.id, revoked_at__isnull=True).update(revoked_at=when) == 1
    if revoked:
        client.revoked_at = when
    return revoked


def api_client_touch(*, client: ApiClient, now: datetime | None = None) -> None:
    """Record that the client was used, at most once per LAST_USED_RESOLUTION_SECONDS: the
    conditional update lets one of many concurrent requests write, and the others none."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=LAST_USED_RESOLUTION_SECONDS)
    if client.last_used_at is not None and client.last_used_at >= stale:
        return
    ApiClient.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), id=client.id).update(
        last_used_at=now
    )
    client.last_used_at = now


@transaction.atomic
def acknowledgements_record(
    *, client: ApiClient, inspection_ids: Sequence[uuid.UUID], line_ids: frozenset[int] | None
) -> dict[uuid.UUID, str]:
    """Acknowledge results for `client`; an outcome per id (AckOutcome), in the order given.

    A result is found when it is finished and in the feed (a row QA queued again is not, until
    it finishes anew) on a line in `line_ids` (None: any line). Acknowledging again is
    harmless: `already_acknowledged`. Two concurrent calls with the same id may both answer
    `acknowledged`; one row is kept either way.
    """
    finished = line_limited(
        Inspection.objects.terminal().filter(id__in=inspection_ids, feed_position__isnull=False), line_ids
    )
    positions = dict(finished.values_list("id", "feed_position"))
    acknowledged = dict(
        Acknowledgement.objects.filter(client=client, inspection_id__in=positions).values_list(
            "inspection_id", "feed_position"
        )
    )
    now = timezone.now()
    outcomes: dict[uuid.UUID, str] = {}
    new: list[Acknowledgement] = []
    for inspection_id in dict.fromkeys(inspection_ids):  # an id twice in a batch has one outcome
        position = positions.get(inspection_id)
        if position is None:
            outcomes[inspection_id] = AckOutcome.NOT_FOUND
        elif acknowledged.get(inspection_id) == position:
            outcomes[inspection_id] = AckOutcome.ALREADY_ACKNOWLEDGED
        else:
            outcomes[inspection_id] = AckOutcome.ACKNOWLEDGED
            new.append(
                Acknowledgement(client=client, inspection_id=inspection_id, feed_position=position, acknowledged_at=now)
            )
    Acknowledgement.objects.bulk_create(
        new,
        update_conflicts=True,
        unique_fields=["client", "inspection"],
        update_fields=["feed_position", "acknowledged_at"],
    )
    return outcomes

"""Reads on lines and stations."""

import threading
import time
from typing import Any, cast

from django.conf import settings
from django.db.models import Q, QuerySet

from lines.models import LineAccess, ProductionLine, Station, hash_station_key

# key hash -> (looked up at, station with its line, or None for an unknown key). Every upload
# authenticates, and the lookup was a fifth of an upload's CPU; stations change rarely. A
# change made in this process clears the cache at once (see forget_stations); other
# processes see it within KENSA_STATION_CACHE_SECONDS.
_stations: dict[str, tuple[float, Station | None]] = {}
_stations_lock = threading.Lock()
MAX_CACHED_KEYS = 10_000  # unknown keys are cached too, so a key-guessing client cannot grow it


NOT_CACHED = object()  # station_cached's answer when the database must be asked


def station_by_key(key: str) -> Station | None:
    """The station (with its line) whose API key is `key`, active or not."""
    cached = station_cached(key)
    if cached is not NOT_CACHED:
        return cast("Station | None", cached)
    now = time.monotonic()
    key_hash = hash_station_key(key)
    station = Station.objects.select_related("line").filter(key_hash=key_hash).first()
    with _stations_lock:
        if len(_stations) >= MAX_CACHED_KEYS:
            _stations.clear()
        _stations[key_hash] = (now, station)
    return station


def station_cached(key: str) -> object:
    """station_by_key's answer (a Station or None) if this process looked it up recently, else
    NOT_CACHED. It asks no database, so an event loop may call it (inspection/ingest/door.py)."""
    cached = _stations.get(hash_station_key(key))
    if cached is not None and time.monotonic() - cached[0] < settings.KENSA_STATION_CACHE_SECONDS:
        return cached[1]
    return NOT_CACHED


def forget_stations(**_signal: Any) -> None:
    """Drop every cached lookup: a station or a line changed."""
    with _stations_lock:
        _stations.clear()


SEE_EVERY_LINE = "lines.see_every_line"
_LINE_IDS_ATTRIBUTE = "_kensa_line_ids"  # the answer, kept on the user object for its request


def visible_line_ids_for_user(user: Any) -> frozenset[int] | None:
    """The ids of the lines a plant user (a User, or AnonymousUser) sees; None for every line.

    Superusers and holders of `lines.see_every_line` see every line; otherwise the user's
    LineAccess decides, and a user without one sees none. The answer is kept on the user
    object, which lives as long as its request (or WebSocket connection): a page asks often.
    """
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, _LINE_IDS_ATTRIBUTE, NOT_CACHED)
    if cached is not NOT_CACHED:
        return cast("frozenset[int] | None", cached)
    answer: frozenset[int] | None
    if user.is_superuser or user.has_perm(SEE_EVERY_LINE):
        answer = None
    else:
        access = LineAccess.objects.filter(user_id=user.pk).first()
        if access is None:
            answer = frozenset()
        elif access.all_lines:
            answer = None
        else:
            answer = frozenset(access.lines.values_list("id", flat=True))
    setattr(user, _LINE_IDS_ATTRIBUTE, answer)
    return answer


def line_limited(queryset: QuerySet, line_ids: frozenset[int] | None, field: str = "line_id") -> QuerySet:
    """`queryset` narrowed to the lines in `line_ids` (None: no limit)."""
    return queryset if line_ids is None else queryset.filter(Q(**{f"{field}__in": line_ids}))


def lines_visible_to(user: Any) -> QuerySet[ProductionLine]:
    """The lines `user` sees (visible_line_ids_for_user), as a queryset to narrow further: a
    line the user may not see is answered as one that does not exist."""
    return line_limited(ProductionLine.objects.all(), visible_line_ids_for_user(user), "id")

"""Reads on lines and stations."""

import threading
import time
from typing import Any, cast

from django.conf import settings

from lines.models import Station, hash_station_key

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

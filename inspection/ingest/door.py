"""The door for direct uploads (`POST /api/v1/inspections/`) on the ingest server's event loop.

A direct upload is the request a plant sends at line rate. The ingest server (gunicorn with
uvicorn workers, config/gunicorn.py and config/ingest.py) reads it on an asyncio loop, and
this door accepts it there: parsing, hashing, validating and writing a 150 KB image take
well under a millisecond, so they run inline, and nothing that can wait on the database runs
on the loop. Those steps go to a thread: a station key that this process has not looked up
within the last seconds, a line's first backlog check in this process (later ones run in the
background, inspection/ingest/backlog.py), and an Idempotency-Key lookup. The row and its task
go to the process's group commit (inspection/ingest/group_commit.py): one transaction and one Redis
round trip for the uploads that arrive while the previous group commits.

The steps and their refusals are those of the upload view and `inspection_create` (the same
functions, in the same order); only where they run differs. Measured with bench/ingest.py,
this costs about half the CPU per upload of the view under gunicorn's threads
(docs/performance.md#ingest).
"""

import asyncio
import functools
import json
import logging
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import IO, Any, TypeVar

from django.conf import settings
from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.core.handlers.asgi import ASGIRequest
from django.db import DatabaseError, IntegrityError, close_old_connections, connections
from django.urls import reverse
from rest_framework import exceptions, status

from inspection.errors import (
    RETRY_AFTER_SECONDS,
    ApiError,
    KensaError,
    as_api_error,
    database_unavailable,
    error_body,
    error_code,
)
from inspection.ingest import backlog, services, storage
from inspection.ingest.authentication import AUTHENTICATE_HEADER, MissingStationKey, bearer_key, checked_station
from inspection.ingest.decode_cost import checks_inline
from inspection.ingest.group_commit import GroupCommit
from inspection.ingest.imaging import check_image_size
from inspection.ingest.metrics import UPLOADS
from inspection.ingest.services import Accepted, Upload
from inspection.ingest.upload import (
    MULTIPART_OVERHEAD_BYTES,
    RAW_SPOOL_MEMORY_BYTES,
    check_content_length,
    upload_from_request,
)
from inspection.models import Inspection
from inspection.per_process import PerProcess
from inspection.serving import gate
from inspection.serving.cors import cors_headers
from lines.models import ProductionLine, Station
from lines.selectors import NOT_CACHED, station_by_key, station_cached

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
T = TypeVar("T")

# A group is one INSERT and one pipelined push; 64 rows keep both short.
GROUP_COMMIT_MAX_SIZE = 64

_group_commit: PerProcess[GroupCommit[Inspection]] = PerProcess(
    lambda: GroupCommit(
        services.inspections_record_group,
        max_size=GROUP_COMMIT_MAX_SIZE,
        idle=connections.close_all,  # on the writer's thread: its own connection
        name="kensa-door-writes",
    )
)


class _Disconnected(Exception):
    """The station went away before its body was complete: nothing was stored."""


async def upload(scope: Scope, receive: Receive, send: Send) -> None:
    headers: list[tuple[str, str]] = cors_headers(scope["headers"])
    try:
        accepted, origin = await _accept(scope, receive)
    except _Disconnected:
        return
    except Exception as exc:
        error = _as_api_error(exc)
        UPLOADS.labels(outcome=error_code(error)).inc()
        await send_error(send, error, headers)
        return
    inspection = accepted.inspection
    url = origin + _detail_path(inspection.id)
    headers.append(("Location", url))
    if accepted.replayed:
        headers.append(("Idempotent-Replayed", "true"))
    UPLOADS.labels(outcome="replayed" if accepted.replayed else "accepted").inc()
    body = {"id": str(inspection.id), "url": url, "status": inspection.status}
    await _send_json(send, status.HTTP_202_ACCEPTED, body, headers)


def _as_api_error(exc: Exception) -> exceptions.APIException:
    """Every failure as the API's error: a refusal keeps its code; a broken database is 503
    database_unavailable; a Host outside ALLOWED_HOSTS is 400 host_invalid, as on the rest of
    the API; anything else is logged and answered 500 internal_error."""
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, KensaError):
        return as_api_error(exc)
    if isinstance(exc, DatabaseError) and not isinstance(exc, IntegrityError):
        return database_unavailable(exc)
    if isinstance(exc, DisallowedHost):
        logger.warning("Upload refused: %s", exc)
        return gate.host_invalid()
    if isinstance(exc, SuspiciousOperation):
        logger.warning("Upload refused: %s", exc)
        return ApiError("bad_request", "The request is malformed.")
    logger.exception("Upload failed")
    return ApiError("internal_error", "The upload failed on the server.", 500)


async def _accept(scope: Scope, receive: Receive) -> tuple[Accepted, str]:
    """The upload view's steps (authenticate, read, validate, store, record), on the loop.
    Returns the upload and the origin (scheme and host) of its URL."""
    body = tempfile.SpooledTemporaryFile(max_size=RAW_SPOOL_MEMORY_BYTES)  # noqa: SIM115 (closed below)
    try:
        request = ASGIRequest(scope, body)
        # The answer's URL is built from the Host header: refuse a foreign one before
        # anything is stored, as the view does. What build_absolute_uri would prefix.
        origin = f"{request.scheme}://{request.get_host()}"
        station = await _station(request.META.get("HTTP_AUTHORIZATION", "").encode("latin-1"))
        check_content_length(request, max_image_bytes=settings.KENSA_MAX_IMAGE_BYTES)
        await _read_body(receive, body, limit=settings.KENSA_MAX_IMAGE_BYTES + MULTIPART_OVERHEAD_BYTES + 1)
        # The request reads its body from `body`, now filled: the view's parsers work unchanged.
        upload = upload_from_request(request, station, max_image_bytes=settings.KENSA_MAX_IMAGE_BYTES)
        return await _create(station, upload), origin
    finally:
        body.close()


@functools.cache
def _detail_path_parts() -> tuple[str, str]:
    # The path differs between inspections only by the id; reverse() took as much CPU as
    # hashing the image.
    marker = uuid.UUID(int=0)
    head, _, tail = reverse("inspection-detail", args=[marker]).partition(str(marker))
    return head, tail


def _detail_path(inspection_id: uuid.UUID) -> str:
    """reverse("inspection-detail", args=[inspection_id]), in this process."""
    head, tail = _detail_path_parts()
    return f"{head}{inspection_id}{tail}"


async def _station(authorization: bytes) -> Station:
    key = bearer_key(authorization)
    if key is None:
        raise MissingStationKey()
    station = station_cached(key)
    if station is NOT_CACHED:
        station = await _in_thread(station_by_key, key)
    return checked_station(station)  # type: ignore[arg-type]  # a Station or None now


async def _read_body(receive: Receive, body: IO[bytes], *, limit: int) -> None:
    """Read the request body into `body`, keeping at most `limit` bytes: the parsers refuse a
    longer one as too large without this process holding all of it."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        if size < limit:
            body.write(chunk[: limit - size])
        size += len(chunk)
        if not message.get("more_body", False):
            break
    body.seek(0)


async def _create(station: Station, upload: Upload) -> Accepted:
    """inspection_create's steps; the database's only on threads, the row by group commit."""
    line = station.line
    check_image_size(upload.size, max_bytes=settings.KENSA_MAX_IMAGE_BYTES)
    digest = storage.sha256_of(upload.stream)
    if upload.idempotency_key:
        previous = await _in_thread(services.previous_upload, station, upload, digest)
        if previous is not None:
            return Accepted(previous, replayed=True)
    services.check_line_accepts(line, backlog_full=await _backlog_full(line))
    if storage.writes_locally() and checks_inline(upload.stream, upload.size):
        inspection = services.inspection_stored(station, upload, digest)
    else:  # object storage (a network round trip), or an image with many pixels to decode
        inspection = await _in_thread(services.inspection_stored, station, upload, digest)
    try:
        await asyncio.wrap_future(_group_commit.get().submit(inspection))
    except IntegrityError:
        await _in_thread(storage.delete_image, inspection.image_key)
        return await _in_thread(services.replay_after_clash, station, upload, digest)
    except BaseException:
        await _in_thread(storage.delete_image, inspection.image_key)
        raise
    return Accepted(inspection, replayed=False)


# Per process (one event loop each): the background refresh of each line's backlog answer.
_backlog_refreshes: dict[int, asyncio.Task[None]] = {}


async def _backlog_full(line: ProductionLine) -> bool:
    """The line's last backlog answer; a stale one still serves while a thread refreshes it
    (inspection/ingest/backlog.py). Only a line's first upload in this process waits for a check."""
    gauge = backlog.gauge.get()
    answer = gauge.last(line)
    if answer is None:
        return await _in_thread(gauge.full, line)
    if answer.stale() and line.id not in _backlog_refreshes:
        _backlog_refreshes[line.id] = asyncio.create_task(_refresh_backlog(gauge, line))
    return answer.full


async def _refresh_backlog(gauge: backlog.BacklogGauge, line: ProductionLine) -> None:
    try:
        await _in_thread(gauge.full, line)
    except Exception:  # the last answer serves on; the next stale upload tries again
        logger.warning("Could not check the backlog of line %s", line.code, exc_info=True)
    finally:
        del _backlog_refreshes[line.id]


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run blocking (database or storage) work off the loop, minding the thread's database
    connection as Django does around a request."""
    return await asyncio.to_thread(_with_connection_care, function, *args)


def _with_connection_care(function: Callable[..., T], *args: Any) -> T:
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


async def send_error(send: Send, error: exceptions.APIException, headers: list[tuple[str, str]]) -> None:
    if error.status_code == status.HTTP_401_UNAUTHORIZED:
        headers.append(("WWW-Authenticate", AUTHENTICATE_HEADER))
    if error.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        headers.append(("Retry-After", str(RETRY_AFTER_SECONDS)))
    await _send_json(send, error.status_code, error_body(error), headers)


def refusal_at_headers(scope: Scope) -> exceptions.APIException | None:
    """serving/gate.py's checks for an upload Django will read (tus), before its body is read:
    Django's handler reads a body whole before any view runs."""
    if not gate.is_upload(scope["method"].encode("latin-1"), scope["path"].encode("latin-1")):
        return None
    headers = dict(scope["headers"])
    try:
        length = int(headers[b"content-length"]) if b"content-length" in headers else None
    except ValueError:
        length = None  # the view answers invalid_content_length
    return gate.upload_refusal(
        host=headers.get(b"host", b""),
        authorization=headers.get(b"authorization", b""),
        content_length=length,
        max_image_bytes=settings.KENSA_MAX_IMAGE_BYTES,
    )


def head_too_large(scope: Scope, *, limit: int) -> bool:
    """True if the request's line and headers together are over `limit` bytes."""
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    return size + sum(len(name) + len(value) + 4 for name, value in scope["headers"]) > limit


async def refuse_head(send: Send, *, limit: int) -> None:
    error = gate.headers_too_large(limit)
    await _send_json(send, error.status_code, error_body(error), [("Connection", "close")])


async def _send_json(send: Send, status_code: int, body: dict[str, Any], headers: list[tuple[str, str]]) -> None:
    content = json.dumps(body).encode()
    raw_headers = [
        (b"Content-Type", b"application/json"),
        (b"Content-Length", str(len(content)).encode()),
        *((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers),
    ]
    await send({"type": "http.response.start", "status": status_code, "headers": raw_headers})
    await send({"type": "http.response.body", "body": content})

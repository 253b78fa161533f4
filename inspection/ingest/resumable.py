"""Resumable uploads (tus 1.0): create, append a piece, finish into an Inspection, delete, expire.

A part file holds the bytes received so far. Appends to one upload are serialised by an
exclusive lock on its part file, so two PATCH requests (a client retrying while its first
attempt still runs) can never interleave their bytes, and no append rewrites the bytes that
finishing is reading.

An upload's last byte is acknowledged only once the upload became an inspection
(`offset_acknowledged`). A client is never told "complete" for an image that is not an
inspection: tus-js-client answers a failed last PATCH with HEAD, and takes a HEAD whose offset
equals the length as success (and a HEAD that is not 2xx as "gone, start a new upload"), so
finishing cannot be retried on HEAD; instead HEAD shows one byte missing, the client sends that
byte, and its PATCH finishes the upload. Holding back one byte rather than the whole refused
piece means a retry during a full backlog or an outage re-sends one byte, not the image again
(tus-js-client sends the whole file as one piece by default).
"""

import base64
import binascii
import fcntl
import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, Protocol

from django.conf import settings
from django.utils import timezone
from rest_framework import status

from inspection.errors import KensaError
from inspection.ingest.fields import CONTENT_TYPE_FORMATS, parse_captured_at, parse_serial
from inspection.ingest.imaging import check_image_size
from inspection.ingest.services import Accepted, Upload, check_line_accepts, inspection_create
from inspection.models import ResumableUpload
from lines.models import Station

CHECKSUM_ALGORITHMS = ("sha1", "md5", "sha256")
_CHUNK = 256 * 1024

# Refusals caused by the line's state, not by the image: once QA fixes the line, the same
# upload can finish, so it is kept. tus clients read 409 (the status of these codes on the
# direct upload) as an offset conflict and retry by sending the whole image again as a new
# upload; 422 is final to them (tus-js-client stops and reports the error with its code), and
# the station resumes the kept upload when it likes.
LINE_REFUSALS = frozenset({"line_inactive", "line_has_no_model"})
HTTP_LINE_REFUSED = status.HTTP_422_UNPROCESSABLE_ENTITY


def part_path(upload_id: uuid.UUID) -> Path:
    return Path(settings.KENSA_UPLOADS_DIR) / f"{upload_id}.part"


def parse_metadata(header: str) -> dict[str, str]:
    """`Upload-Metadata: key base64(value),key2 base64(value2)` as a dict. NUL is refused in
    keys and values: PostgreSQL's jsonb cannot store it, and a station must not be told to
    retry (503) what can never be stored."""
    metadata: dict[str, str] = {}
    for pair in filter(None, (item.strip() for item in header.split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            value = base64.b64decode(encoded, validate=True).decode() if encoded else ""
        except (binascii.Error, UnicodeDecodeError):
            raise KensaError(
                "upload_metadata_invalid", f"Upload-Metadata value of {key!r} is not base64 UTF-8."
            ) from None
        if "\x00" in key or "\x00" in value:
            raise KensaError("upload_metadata_invalid", f"Upload-Metadata {key!r} contains a NUL character.")
        metadata[key] = value
    return metadata


def upload_create(*, station: Station, length: int, metadata: dict[str, str]) -> ResumableUpload:
    check_image_size(length, max_bytes=settings.KENSA_MAX_IMAGE_BYTES)
    # A line that takes no images is refused now (tus answers 422: HTTP_LINE_REFUSED); its
    # backlog is checked at the last piece, when the image would join the queue.
    check_line_accepts(station.line, backlog_full=False)
    parse_serial(metadata.get("serial"))  # refuse a bad serial now, not after the last byte
    parse_captured_at(metadata.get("captured_at"))
    upload = ResumableUpload.objects.create(
        station=station,
        length=length,
        metadata=metadata,
        expires_at=timezone.now() + timedelta(seconds=settings.KENSA_UPLOAD_EXPIRY_SECONDS),
    )
    path = part_path(upload.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return upload


def upload_get(*, station: Station, upload_id: uuid.UUID) -> ResumableUpload:
    upload = ResumableUpload.objects.filter(id=upload_id, station=station).first()
    if upload is None:
        raise KensaError("upload_not_found", "No upload has this id.")
    if upload.inspection_id is None and upload.expires_at < timezone.now():
        upload_delete(upload=upload)
        raise KensaError("upload_expired", "This upload expired; start a new one.")
    return upload


def offset_acknowledged(upload: ResumableUpload) -> int:
    """The offset clients are told (HEAD, PATCH answers): every byte received, but the last
    one only once the upload is an inspection (see the module's docstring). Upload-Length is
    at least 1 (upload_create), so an unfinished upload is never shown complete."""
    if upload.inspection_id is not None:
        return upload.length
    return min(upload.offset, upload.length - 1)


@contextmanager
def _locked_part(upload: ResumableUpload) -> Iterator[IO[bytes]]:
    path = part_path(upload.id)
    if not path.exists():
        raise KensaError("upload_not_found", "The bytes of this upload are gone; start a new one.")
    with path.open("r+b") as part:
        fcntl.flock(part, fcntl.LOCK_EX)
        try:
            yield part
        finally:
            fcntl.flock(part, fcntl.LOCK_UN)


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def upload_append(
    *, upload: ResumableUpload, offset: int, body: Readable, checksum: tuple[str, bytes] | None
) -> Accepted | None:
    """Append a piece at `offset`; the piece that completes the upload also turns it into an
    inspection (upload_finish) while the part is still locked. Returns the inspection once
    there is one, else None. A piece whose checksum does not match is discarded whole.
    Appending to a finished upload (a client whose last answer was lost) returns its inspection."""
    if upload.inspection is not None:
        return Accepted(upload.inspection, replayed=True)
    with _locked_part(upload) as part:
        upload.refresh_from_db(fields=["offset", "inspection"])
        if upload.inspection is not None:  # finished by a concurrent request while this one waited
            return Accepted(upload.inspection, replayed=True)
        acknowledged = offset_acknowledged(upload)
        if offset != acknowledged:
            raise KensaError(
                "upload_offset_mismatch", f"Upload-Offset is {offset} but the server has {acknowledged} bytes."
            )
        upload.offset = acknowledged + _write_piece(part, upload, acknowledged, body, checksum)
        upload.expires_at = timezone.now() + timedelta(seconds=settings.KENSA_UPLOAD_EXPIRY_SECONDS)
        upload.save(update_fields=["offset", "expires_at"])
        return upload_finish(upload=upload, part=part) if upload.offset == upload.length else None


def _write_piece(
    part: IO[bytes], upload: ResumableUpload, offset: int, body: Readable, checksum: tuple[str, bytes] | None
) -> int:
    """Write the piece at `offset` and return its size; on a refusal the part ends at `offset`."""
    part.truncate(offset)  # drop bytes a crashed append or the held-back last byte left
    part.seek(offset)
    digest = hashlib.new(checksum[0]) if checksum else None
    received = 0
    while chunk := body.read(_CHUNK):
        received += len(chunk)
        if offset + received > upload.length:
            part.truncate(offset)
            raise KensaError("upload_exceeds_length", f"The upload has only {upload.length} bytes in all.")
        part.write(chunk)
        if digest:
            digest.update(chunk)
    if checksum and digest and digest.digest() != checksum[1]:
        part.truncate(offset)
        raise KensaError("upload_checksum_mismatch", "The piece does not match its Upload-Checksum.")
    part.flush()
    return received


def upload_finish(*, upload: ResumableUpload, part: IO[bytes]) -> Accepted:
    """Turn a complete upload, whose locked part file is `part`, into an inspection exactly as
    a direct upload. The upload's id is its idempotency key, so finishing again after a crash
    between the inspection's row and the upload's returns the same inspection.

    A refused image ends the upload: no retry can change its bytes. Anything else (the line's
    backlog is full, the line has no model, the database or storage is down) keeps it, its last
    byte unacknowledged, so the client's retry finishes it once the condition clears."""
    metadata = upload.metadata
    filetype = metadata.get("filetype", "").lower()
    try:
        accepted = inspection_create(
            station=upload.station,
            upload=Upload(
                stream=part,
                size=upload.length,
                serial=parse_serial(metadata.get("serial")),
                captured_at=parse_captured_at(metadata.get("captured_at")),
                idempotency_key=f"tus-{upload.id}",
                declared_format=CONTENT_TYPE_FORMATS.get(filetype),
            ),
        )
    except KensaError as refusal:
        # A refused image ends the upload; a line that takes no images now, or a server that
        # cannot store it now, keeps it for the station to finish later.
        if refusal.code not in LINE_REFUSALS and refusal.http_status < 500:
            upload_delete(upload=upload)
        raise
    ResumableUpload.objects.filter(id=upload.id).update(inspection=accepted.inspection)
    upload.inspection = accepted.inspection
    part_path(upload.id).unlink(missing_ok=True)
    return accepted


def upload_delete(*, upload: ResumableUpload) -> None:
    part_path(upload.id).unlink(missing_ok=True)
    ResumableUpload.objects.filter(id=upload.id).delete()


def uploads_expire() -> int:
    """Delete abandoned uploads and their part files (beat runs this)."""
    expired = list(ResumableUpload.objects.filter(expires_at__lt=timezone.now()).values_list("id", flat=True))
    for upload_id in expired:
        part_path(upload_id).unlink(missing_ok=True)
    ResumableUpload.objects.filter(id__in=expired).delete()
    return len(expired)

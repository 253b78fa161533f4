"""Resumable uploads (tus 1.0): create, append a piece, finish into an Inspection, delete, expire.

A part file holds the bytes received so far. Appends to one upload are serialised by an
exclusive lock on its part file, so two PATCH requests (a client retrying while its first
attempt still runs) can never interleave their bytes.
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
from django.db import transaction
from django.utils import timezone
from rest_framework import status

from inspection.errors import ApiError
from inspection.ingest.fields import CONTENT_TYPE_FORMATS, parse_captured_at, parse_serial
from inspection.ingest.services import Accepted, Upload, inspection_create
from inspection.models import ResumableUpload
from lines.models import Station

CHECKSUM_ALGORITHMS = ("sha1", "md5", "sha256")
_CHUNK = 256 * 1024
HTTP_CHECKSUM_MISMATCH = 460  # tus checksum extension


def part_path(upload_id: uuid.UUID) -> Path:
    return Path(settings.KENSA_UPLOADS_DIR) / f"{upload_id}.part"


def parse_metadata(header: str) -> dict[str, str]:
    """`Upload-Metadata: key base64(value),key2 base64(value2)` as a dict."""
    metadata: dict[str, str] = {}
    for pair in filter(None, (item.strip() for item in header.split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            metadata[key] = base64.b64decode(encoded, validate=True).decode() if encoded else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(
                "upload_metadata_invalid", f"Upload-Metadata value of {key!r} is not base64 UTF-8."
            ) from None
    return metadata


def upload_create(*, station: Station, length: int, metadata: dict[str, str]) -> ResumableUpload:
    if length > settings.KENSA_MAX_IMAGE_BYTES:
        raise ApiError(
            "image_too_large",
            f"Upload-Length {length} is over the limit of {settings.KENSA_MAX_IMAGE_BYTES} bytes.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
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
        raise ApiError("upload_not_found", "No upload has this id.", status.HTTP_404_NOT_FOUND)
    if upload.inspection_id is None and upload.expires_at < timezone.now():
        upload_delete(upload=upload)
        raise ApiError("upload_expired", "This upload expired; start a new one.", status.HTTP_410_GONE)
    return upload


@contextmanager
def _locked_part(upload: ResumableUpload) -> Iterator[IO[bytes]]:
    path = part_path(upload.id)
    if not path.exists():
        raise ApiError("upload_not_found", "The bytes of this upload are gone; start a new one.", 404)
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
) -> ResumableUpload:
    """Append a piece at `offset`. A piece whose checksum does not match is discarded whole."""
    with _locked_part(upload) as part:
        upload.refresh_from_db(fields=["offset", "inspection"])
        if offset != upload.offset:
            raise ApiError(
                "upload_offset_mismatch",
                f"Upload-Offset is {offset} but the server has {upload.offset} bytes.",
                status.HTTP_409_CONFLICT,
            )
        part.truncate(upload.offset)  # drop bytes a crashed earlier append may have left
        part.seek(upload.offset)
        digest = hashlib.new(checksum[0]) if checksum else None
        received = 0
        while chunk := body.read(_CHUNK):
            received += len(chunk)
            if upload.offset + received > upload.length:
                part.truncate(upload.offset)
                raise ApiError("upload_exceeds_length", f"The upload has only {upload.length} bytes in all.")
            part.write(chunk)
            if digest:
                digest.update(chunk)
        if checksum and digest and digest.digest() != checksum[1]:
            part.truncate(upload.offset)
            raise ApiError(
                "upload_checksum_mismatch", "The piece does not match its Upload-Checksum.", HTTP_CHECKSUM_MISMATCH
            )
        part.flush()
        upload.offset += received
        upload.expires_at = timezone.now() + timedelta(seconds=settings.KENSA_UPLOAD_EXPIRY_SECONDS)
        upload.save(update_fields=["offset", "expires_at"])
    return upload


def upload_finish(*, upload: ResumableUpload) -> Accepted | None:
    """Turn a complete upload into an inspection, exactly as a direct upload; None while
    bytes are missing. Finishing twice (a client retrying the last PATCH) returns the same
    inspection: the upload's id is its idempotency key. A refused image ends the upload."""
    if upload.inspection is not None:
        return Accepted(upload.inspection, replayed=True)
    if upload.offset < upload.length:
        return None
    metadata = upload.metadata
    filetype = metadata.get("filetype", "").lower()
    with part_path(upload.id).open("rb") as part:
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
        except ApiError as refusal:
            if refusal.status_code < 500:
                upload_delete(upload=upload)
            raise
    with transaction.atomic():
        ResumableUpload.objects.filter(id=upload.id).update(inspection=accepted.inspection)
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

"""Where images live in object storage. Keys are chosen here, never taken from the client."""

import ctypes
import hashlib
import io
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import IO

from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage, storages

from inspection.errors import KensaError

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
# syncfs(2): Linux's sync of one filesystem (Python's os has only sync(), of all of them).
_syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None) if sys.platform == "linux" else None


def image_key(*, line_code: str, inspection_id: uuid.UUID, received_at: datetime, extension: str) -> str:
    return f"images/{line_code}/{received_at:%Y/%m/%d}/{inspection_id}.{extension}"


def sha256_of(stream: IO[bytes]) -> str:
    if isinstance(stream, io.BytesIO):  # an image held in memory: hashed where it lies
        stream.seek(0)  # left at its start, as the chunked read below leaves it
        with stream.getbuffer() as view:
            return hashlib.sha256(view).hexdigest()
    stream.seek(0)
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def writes_locally() -> bool:
    """Whether images go to a local filesystem (a write takes a fraction of a millisecond)
    rather than to object storage over the network."""
    return isinstance(storages["default"], FileSystemStorage)


def store_image(key: str, stream: IO[bytes]) -> str:
    """Write the image under `key` and return the key the storage actually used."""
    stream.seek(0)
    backend = storages["default"]  # what default_storage stands for
    if isinstance(backend, FileSystemStorage):
        return _write_new_file(backend, key, stream)
    return default_storage.save(key, File(stream))


def _write_new_file(storage: FileSystemStorage, key: str, stream: IO[bytes]) -> str:
    """What FileSystemStorage.save does for a key nobody has used (keys carry the inspection's
    uuid), at a third of its CPU: no search for a free name, no lock, no directory check
    unless the directory is missing. O_EXCL still refuses to overwrite a file."""
    path = storage.path(key)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    mode = storage.file_permissions_mode if storage.file_permissions_mode is not None else 0o666
    try:
        descriptor = os.open(path, flags, mode)
    except FileNotFoundError:  # the first image of the day (or of the line)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor = os.open(path, flags, mode)
    try:
        _write_all(descriptor, stream)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(descriptor)
    return key


def _write_all(descriptor: int, stream: IO[bytes]) -> None:
    """Write the stream from its start straight to the descriptor. An image held in memory
    goes from where it lies, with no file object and no copy in chunks, which costs less CPU
    per image than going through a file object (docs/performance.md#ingest)."""
    if isinstance(stream, io.BytesIO):
        with stream.getbuffer() as view:
            _write_view(descriptor, view)
        return
    while chunk := stream.read(_CHUNK):
        _write_view(descriptor, memoryview(chunk))


def _write_view(descriptor: int, view: memoryview) -> None:
    while view:
        view = view[os.write(descriptor, view) :]


def images_durable(keys: Sequence[str]) -> None:
    """Make stored images survive a crash or a power cut; call it before their rows commit.

    A row committed is an image promised to the line (202), and PostgreSQL makes the row
    durable; the image must be too, or a power cut leaves a row whose image is empty or gone.
    On a local filesystem one `syncfs` writes out a whole group of images (and the directories
    that name them) at once, far cheaper than one `fsync` per image. Written as they come,
    images also never pile up as dirty pages that the kernel then writes in bursts, which had
    stalled the database's commits (docs/performance.md#ingest). Object storage holds an image
    durably once its PUT is answered."""
    backend = storages["default"]
    if not keys or not isinstance(backend, FileSystemStorage):
        return
    try:
        if _syncfs is None:  # not Linux: each file and each directory that names one
            paths = {backend.path(key) for key in keys}
            for path in sorted(paths | {os.path.dirname(path) for path in paths}):
                _fsync_path(path)
        else:
            _sync_filesystem(os.fspath(backend.location))
    except OSError as exc:
        logger.error("Images could not be made durable: %s", exc)
        raise KensaError(
            "storage_unavailable",
            "The image store could not write the image to disk; nothing was accepted. Retry shortly.",
        ) from exc


def _sync_filesystem(path: str) -> None:
    assert _syncfs is not None
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if _syncfs(descriptor) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"syncfs of {path}: {os.strerror(error)}")
    finally:
        os.close(descriptor)


def _fsync_path(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def delete_image(key: str) -> None:
    default_storage.delete(key)


def read_image(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        data: bytes = handle.read()
        return data

"""Where images live in object storage. Keys are chosen here, never taken from the client."""

import hashlib
import uuid
from datetime import datetime
from typing import IO

from django.core.files import File
from django.core.files.storage import default_storage

_CHUNK = 1024 * 1024


def image_key(*, line_code: str, inspection_id: uuid.UUID, received_at: datetime, extension: str) -> str:
    return f"images/{line_code}/{received_at:%Y/%m/%d}/{inspection_id}.{extension}"


def sha256_of(stream: IO[bytes]) -> str:
    stream.seek(0)
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def store_image(key: str, stream: IO[bytes]) -> str:
    """Write the image under `key` and return the key the storage actually used."""
    stream.seek(0)
    return default_storage.save(key, File(stream))


def delete_image(key: str) -> None:
    default_storage.delete(key)


def read_image(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        data: bytes = handle.read()
        return data

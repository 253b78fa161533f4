"""The image store's hash and write (inspection/ingest/storage.py) give the same result for an image
held in memory, which they use where it lies, and for one spooled to disk, read in chunks."""

import hashlib
import io
import os
import tempfile

import pytest

from inspection.ingest import storage

# Past storage's read chunk, so the spooled stream is read and written in more than one piece.
BIG = os.urandom(storage._CHUNK * 2 + 12345)


def in_memory(data: bytes) -> io.BytesIO:
    stream = io.BytesIO()
    stream.write(data)  # as the multipart parser fills a part
    stream.seek(len(data) // 2)  # wherever a reader left it
    return stream


def on_disk(data: bytes) -> tempfile.SpooledTemporaryFile:
    stream = tempfile.SpooledTemporaryFile(max_size=1024)  # noqa: SIM115 (the test closes it)
    stream.write(data)
    stream.seek(7)
    return stream


@pytest.mark.parametrize("make", [in_memory, on_disk])
@pytest.mark.parametrize("data", [b"\xff\xd8 a small image \xff\xd9", BIG], ids=["small", "big"])
def test_an_image_is_hashed_and_written_whole_from_its_start(make, data, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    settings.MEDIA_ROOT = str(tmp_path)
    stream = make(data)
    assert storage.sha256_of(stream) == hashlib.sha256(data).hexdigest()
    assert stream.tell() == 0  # the validation that follows reads from the start
    stream.seek(3)
    key = storage.store_image("images/l/2026/12/01/a.jpg", stream)
    assert (tmp_path / key).read_bytes() == data
    with pytest.raises(FileExistsError):  # a key is never written twice
        storage.store_image(key, make(b"other"))
    assert (tmp_path / key).read_bytes() == data
    if isinstance(stream, io.BytesIO):
        stream.write(b"!")  # nothing holds the buffer any more: the upload can be closed
    stream.close()

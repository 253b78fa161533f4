"""A standard tus client (tuspy), unchanged, uploads an image over two sessions, through
daphne and through the ingest server (where Django's ASGI handler serves tus)."""

import hashlib

import pytest
from django.core.files.storage import default_storage
from tusclient import client as tus

from inspection.models import Inspection, ResumableUpload
from tests.factories import jpeg_bytes, make_line, make_station
from tests.processes import process_env, start_gunicorn_ingest

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_tuspy_upload_interrupted_and_resumed(daphne_server):
    upload_interrupted_and_resumed(daphne_server.url)


def test_tuspy_upload_through_the_ingest_server(process_logs):
    server = start_gunicorn_ingest(process_env(), process_logs)
    try:
        upload_interrupted_and_resumed(server.url)
    finally:
        server.stop()


def upload_interrupted_and_resumed(base_url: str) -> None:
    _, key = make_station(make_line(code="tus-e2e"))
    data = jpeg_bytes(size=(1280, 1024))
    endpoint = f"{base_url}/api/v1/uploads/"
    headers = {"Authorization": f"Bearer {key}"}
    metadata = {"serial": "TUSPY-1", "filetype": "image/jpeg"}

    first = tus.TusClient(endpoint, headers=headers).uploader(
        file_stream=_stream(data), chunk_size=20_000, metadata=metadata, upload_checksum=True
    )
    first.upload_chunk()
    first.upload_chunk()  # then the camera PC loses its network
    assert ResumableUpload.objects.get().offset == 40_000

    resumed = tus.TusClient(endpoint, headers=headers).uploader(
        file_stream=_stream(data), chunk_size=20_000, url=first.url, upload_checksum=True
    )
    assert resumed.offset == 40_000  # learnt from the server with HEAD
    resumed.upload()

    upload = ResumableUpload.objects.get()
    assert upload.offset == len(data) and upload.inspection is not None
    inspection = Inspection.objects.get(id=upload.inspection.id)
    assert inspection.serial == "TUSPY-1"
    assert inspection.image_sha256 == hashlib.sha256(data).hexdigest()
    with default_storage.open(inspection.image_key) as stored:
        assert stored.read() == data


def _stream(data: bytes):
    import io

    return io.BytesIO(data)

"""An accepted image is on disk for good before its row commits (storage.images_durable): a
power cut after the 202 must not leave a row whose image is empty or gone."""

import errno
import io
import os

import pytest
from django.core.files.storage import FileSystemStorage
from rest_framework.test import APIClient

from inspection.errors import KensaError
from inspection.ingest import storage
from inspection.ingest.services import Upload, inspection_create, inspections_record_group
from inspection.models import Inspection
from tests.conftest import stored_files
from tests.factories import jpeg_bytes, make_line, make_station, stored_inspection

pytestmark = pytest.mark.django_db(transaction=True)


def image_store() -> str:
    backend = storage.storages["default"]
    assert isinstance(backend, FileSystemStorage)
    return os.fspath(backend.location)


@pytest.fixture
def sync_fails(monkeypatch):
    """The disk refuses to sync, on Linux or elsewhere."""

    def failing(path: str) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(storage, "_sync_filesystem", failing)
    monkeypatch.setattr(storage, "_fsync_path", failing)


@pytest.fixture
def syncs(monkeypatch):
    """Every sync of the image store, with the rows that were committed when it ran; the real
    sync runs too."""
    seen: list[tuple[str, int]] = []
    real = storage._sync_filesystem

    def recorded(path: str) -> None:
        seen.append((path, Inspection.objects.count()))
        real(path)

    monkeypatch.setattr(storage, "_sync_filesystem", recorded)
    return seen


@pytest.mark.skipif(storage._syncfs is None, reason="syncfs(2) is Linux's")
def test_a_groups_images_are_synced_once_before_its_rows_commit(syncs):
    station, _ = make_station(make_line(code="durable-group"))
    group = [stored_inspection(station, f"D-{n}", seed=n) for n in range(3)]

    assert inspections_record_group(group) == [None] * 3

    assert syncs == [(image_store(), 0)]  # one sync for the group, before any row
    assert Inspection.objects.count() == 3


@pytest.mark.skipif(storage._syncfs is None, reason="syncfs(2) is Linux's")
def test_a_direct_upload_is_synced_before_its_row_commits(syncs):
    station, _ = make_station(make_line(code="durable-one"))
    image = jpeg_bytes()
    inspection_create(station=station, upload=Upload(io.BytesIO(image), len(image), "ONE", None))
    assert syncs == [(image_store(), 0)]
    assert Inspection.objects.count() == 1


def test_without_syncfs_each_file_and_its_directory_is_synced(monkeypatch):
    station, _ = make_station(make_line(code="durable-fsync"))
    inspection = stored_inspection(station, "F")
    synced: list[str] = []
    real = storage._fsync_path
    monkeypatch.setattr(storage, "_syncfs", None)

    def recorded(path: str) -> None:
        synced.append(path)
        real(path)

    monkeypatch.setattr(storage, "_fsync_path", recorded)

    storage.images_durable([inspection.image_key])

    path = storage.storages["default"].path(inspection.image_key)
    assert sorted(synced) == sorted([path, path.rsplit("/", 1)[0]])


def test_an_image_that_cannot_be_made_durable_is_refused_and_nothing_is_kept(sync_fails):
    line = make_line(code="durable-eio")
    _, key = make_station(line)
    files_before = stored_files()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.post(
        "/api/v1/inspections/", {"serial": "EIO", "image": io.BytesIO(jpeg_bytes())}, format="multipart"
    )

    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert response["Retry-After"]
    assert Inspection.objects.count() == 0
    assert stored_files() == files_before


def test_a_group_that_cannot_be_made_durable_commits_no_row(sync_fails):
    station, _ = make_station(make_line(code="durable-group-eio"))
    group = [stored_inspection(station, "G")]
    with pytest.raises(Exception) as raised:
        inspections_record_group(group)
    assert isinstance(raised.value, KensaError)
    assert (raised.value.code, raised.value.http_status) == ("storage_unavailable", 503)
    assert Inspection.objects.count() == 0

"""The S3 path, against moto's S3-compatible server started here (no real cloud)."""

import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer
from rest_framework.test import APIClient

from inspection.constants import Status, Verdict
from inspection.inference import engine
from inspection.inference.worker import Outcome
from inspection.models import Inspection
from tests.factories import jpeg_bytes, make_line, make_model, make_station, run_inspection
from tests.processes import free_port
from tests.users import make_user

BUCKET = "kensa-images"
CREDENTIALS = {"aws_access_key_id": "kensa-test", "aws_secret_access_key": "kensa-test-secret"}
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3(settings, s3_endpoint):
    """Switch default storage to the bucket, as KENSA_S3_* variables do in production."""
    settings.KENSA_S3_BUCKET = BUCKET
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": settings.KENSA_S3_URL_SECONDS,
                "file_overwrite": True,
                "signature_version": "s3v4",
            },
        },
    }
    engine._cache.clear()
    yield boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS)
    engine._cache.clear()


def keys(client) -> set[str]:
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_upload_inspect_and_serve_through_s3(s3, django_capture_on_commit_callbacks):
    line = make_line(code="s3-line", model=make_model(always="scratch"))  # the model's artifact goes to S3 too
    _, key = make_station(line)
    data = jpeg_bytes()
    station = APIClient()
    station.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = station.post("/api/v1/inspections/?serial=S3-1", data=data, content_type="image/jpeg")
    assert response.status_code == 202, response.content
    inspection = Inspection.objects.get(id=response.json()["id"])
    assert s3.get_object(Bucket=BUCKET, Key=inspection.image_key)["Body"].read() == data

    with django_capture_on_commit_callbacks(execute=True):
        assert run_inspection(inspection.id) == Outcome.DONE  # fetched back from the bucket
    inspection.refresh_from_db()
    assert (inspection.status, inspection.verdict) == (Status.DONE, Verdict.FAIL)

    viewer = APIClient()
    viewer.force_authenticate(make_user("qa"))
    image = viewer.get(f"/api/v1/inspections/{inspection.id}/image")
    assert image.status_code == 302
    signed = image["Location"]
    assert "X-Amz-Signature=" in signed and "X-Amz-Expires=300" in signed
    with urllib.request.urlopen(signed, timeout=10) as fetched:
        assert fetched.read() == data


def test_refused_upload_leaves_the_bucket_untouched(s3):
    _, key = make_station(make_line(code="s3-bad"))
    before = keys(s3)
    station = APIClient()
    station.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = station.post("/api/v1/inspections/?serial=S3-2", data=jpeg_bytes()[:3000], content_type="image/jpeg")
    assert response.json()["error"]["code"] == "image_truncated"
    assert keys(s3) == before

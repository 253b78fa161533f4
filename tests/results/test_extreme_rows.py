"""No single stored row can stop a list, the MES feed or the admin (issue #22).

The most extreme rows the validators let in, uploaded through the real view (the earliest
and latest captured_at in the window, each with the widest offset, the longest serial in
four-byte characters, the longest Idempotency-Key), then finished with the most a worker can
write (hundreds of defects with the longest labels, boxes and areas at their limits), are read
through every path: the results feed page by page with and without a line filter, each
inspection's detail, and the admin's change lists and change pages."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone as django_timezone

from inspection import feed
from inspection.constants import Status, Verdict
from inspection.ingest.fields import MAX_IDEMPOTENCY_KEY_LENGTH, MAX_SERIAL_LENGTH
from inspection.models import Defect, Inspection
from tests.factories import jpeg_bytes, make_api_client, make_line, make_station
from tests.users import make_user

# Feed positions are transaction ids, visible once committed.
pytestmark = pytest.mark.django_db(transaction=True)

DEFECTS_PER_ROW = 300
WIDEST = [timezone(timedelta(hours=14)), timezone(-timedelta(hours=14)), timezone(timedelta(hours=23, minutes=59))]


def upload_extremes(key: str) -> list[str]:
    """Rows at the edges of what the upload validators accept; their ids."""
    now = datetime.now(UTC)
    # A minute inside each end: the request itself takes a moment.
    earliest = now - timedelta(days=settings.KENSA_CAPTURED_AT_MAX_AGE_DAYS) + timedelta(minutes=1)
    latest = now + timedelta(hours=settings.KENSA_CAPTURED_AT_MAX_AHEAD_HOURS) - timedelta(minutes=1)
    ids = []
    for n, (moment, offset) in enumerate((moment, offset) for moment in (earliest, latest) for offset in WIDEST):
        response = Client().post(
            "/api/v1/inspections/",
            jpeg_bytes(seed=n),
            content_type="image/jpeg",
            headers={
                "Authorization": f"Bearer {key}",
                "Kensa-Serial": chr(0x1D54F) * (MAX_SERIAL_LENGTH - 1) + str(n),
                "Kensa-Captured-At": moment.astimezone(offset).isoformat(),
                "Idempotency-Key": "k" * (MAX_IDEMPOTENCY_KEY_LENGTH - 2) + f"{n:02}",
            },
        )
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    return ids


def finish_at_the_limits(ids: list[str]) -> None:
    """What a worker may write at most: every row finished, done or failed, with many defects."""
    finished = django_timezone.now() - timedelta(seconds=5)
    for n, inspection_id in enumerate(ids):
        status, verdict = (Status.DONE, Verdict.FAIL) if n % 2 else (Status.FAILED, "")
        Inspection.objects.filter(id=inspection_id).update(
            status=status,
            verdict=verdict,
            error_code="x" * 64 if status == Status.FAILED else "",
            finished_at=finished,
            feed_position=feed.position_expression(),
        )
        big = settings.KENSA_MAX_IMAGE_PIXELS
        Defect.objects.bulk_create(
            Defect(
                inspection_id=inspection_id,
                label=chr(0x1D54F) * 100,
                confidence=[0.0, 1.0, 5e-324][d % 3],
                box=[0, 0, big, big],
                area=big,
            )
            for d in range(DEFECTS_PER_ROW)
        )


@pytest.fixture
def extremes():
    line = make_line(code="edge-line")
    _, key = make_station(line)
    ids = upload_extremes(key)
    finish_at_the_limits(ids)
    return line, ids


def test_every_extreme_row_reads_through_the_feed_and_its_detail(extremes):
    line, ids = extremes
    user = make_user("mes-edge")
    client = Client(headers={"Authorization": f"Bearer {make_api_client(name=user.username)[1]}"})
    for query in ({"line": line.code}, {}):
        seen, cursor = [], ""
        for _ in range(len(ids) + 2):
            page = client.get("/api/v1/results/", {**query, "limit": 1, "cursor": cursor})
            assert page.status_code == 200, page.content
            body = page.json()
            seen += [item["id"] for item in body["results"]]
            assert all(len(item["defects"]) == DEFECTS_PER_ROW for item in body["results"])
            cursor = body["next_cursor"]
            if not body["results"]:
                break
        assert sorted(seen) == sorted(ids), query
    for inspection_id in ids:
        detail = client.get(f"/api/v1/inspections/{inspection_id}/")
        assert detail.status_code == 200, detail.content
        assert detail.json()["captured_at"] is not None


def test_every_extreme_row_renders_in_the_admin(extremes):
    _, ids = extremes
    admin = get_user_model().objects.create_superuser("root-edge", password="x")
    client = Client()
    client.force_login(admin)
    for url in (
        "/admin/inspection/inspection/",
        "/admin/inspection/inspection/?status__exact=failed",
        "/admin/inspection/inspection/?status__exact=done",
        "/admin/inspection/defect/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    for inspection_id in ids:
        assert client.get(f"/admin/inspection/inspection/{inspection_id}/change/").status_code == 200
    defect = Defect.objects.filter(inspection_id=ids[0]).first()
    assert defect is not None
    assert client.get(f"/admin/inspection/defect/{defect.id}/change/").status_code == 200

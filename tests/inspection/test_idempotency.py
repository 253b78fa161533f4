"""Idempotency-Key: a station's retry returns the original inspection, never a second one."""

import threading

import pytest
from django.test import Client

from inspection.ingest import services
from inspection.models import Inspection
from tests.conftest import stored_files
from tests.factories import jpeg_bytes, make_line, make_station
from tests.threads import closing_connections

URL = "/api/v1/inspections/"


def post(key: str, data: bytes, idempotency_key: str):
    return Client().post(
        URL + "?serial=IDEM-1",
        data=data,
        content_type="image/jpeg",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_IDEMPOTENCY_KEY=idempotency_key,
    )


@pytest.mark.django_db
def test_a_retry_returns_the_original():
    _, key = make_station(make_line())
    data = jpeg_bytes()
    first = post(key, data, "cam1-000001")
    before = stored_files()
    second = post(key, data, "cam1-000001")
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Inspection.objects.count() == 1
    assert stored_files() == before


@pytest.mark.django_db
def test_the_same_key_for_another_image_is_refused():
    _, key = make_station(make_line())
    assert post(key, jpeg_bytes(seed=1), "cam1-000002").status_code == 202
    other = post(key, jpeg_bytes(seed=2), "cam1-000002")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Inspection.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_station():
    line = make_line()
    _, key_a = make_station(line, code="cam-a")
    _, key_b = make_station(line, code="cam-b")
    a, b = post(key_a, jpeg_bytes(), "000001"), post(key_b, jpeg_bytes(), "000001")
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_racing_retries_get_one_inspection():
    """Eight copies of one upload at once, each in its own thread and database connection."""
    _, key = make_station(make_line())
    data = jpeg_bytes()
    before = stored_files()
    barrier = threading.Barrier(8)
    answers: list = []

    @closing_connections
    def send() -> None:
        barrier.wait()
        answers.append(post(key, data, "race-000001"))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [202] * 8
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert Inspection.objects.count() == 1
    assert len(stored_files() - before) == 1  # the losers' images were removed again


@pytest.mark.django_db(transaction=True)
def test_the_loser_of_a_race_gets_the_winner(monkeypatch):
    """Deterministic version of the race: the check for an earlier upload sees nothing (the
    other request has not committed yet), then the insert meets the unique constraint."""
    _, key = make_station(make_line())
    data = jpeg_bytes()
    winner = post(key, data, "race-000002").json()["id"]
    before = stored_files()
    real_previous = services.previous_upload
    calls = []

    def blind_first(*args):
        calls.append(args)
        return None if len(calls) == 1 else real_previous(*args)

    monkeypatch.setattr(services, "previous_upload", blind_first)
    loser = post(key, data, "race-000002")
    assert loser.status_code == 202
    assert loser.json()["id"] == winner
    assert len(calls) == 2  # the second call came from the IntegrityError path
    assert Inspection.objects.count() == 1
    assert stored_files() == before

"""The MES feed's order is the order in which results became visible: a reader that has seen
position N never later finds a result before N, however long a result's transaction stays
open (the cursor over finished_at trusted a one-second settle window and skipped it)."""

import random
import threading
import time

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from inspection.constants import ErrorCode, Status
from inspection.lifecycle.finish import inspections_finish
from inspection.models import Inspection
from tests.factories import make_api_client, make_line, mes_api
from tests.inspection.test_worker import accept
from tests.postgres import transaction_in_another_database
from tests.threads import closing_connections

URL = "/api/v1/results/"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mes_client() -> APIClient:
    _, token = make_api_client(scopes=["results:read"])
    return mes_api(token)


def end(inspection: Inspection) -> None:
    inspections_finish(
        Inspection.objects.filter(id=inspection.id).waiting(),
        status=Status.FAILED,
        error_code=ErrorCode.IMAGE_DECODE_FAILED,
    )


def drain(client: APIClient, cursor: str) -> tuple[list[str], str]:
    seen: list[str] = []
    while True:
        page = client.get(URL, {"cursor": cursor, "limit": "3"}).json()
        seen += [item["id"] for item in page["results"]]
        cursor = page["next_cursor"] or cursor
        if not page["has_more"]:
            return seen, cursor


def test_a_result_whose_transaction_stays_open_is_delivered_not_skipped(mes_client):
    line = make_line(code="hold-1")
    earlier, held, later = accept(line), [accept(line)], [accept(line), accept(line)]
    end(earlier)
    written, release = threading.Event(), threading.Event()

    @closing_connections
    def hold() -> None:
        with transaction.atomic():
            end(held[0])
            written.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert written.wait(timeout=10)
        for row in later:
            end(row)  # commit at once, after the held result was written
        time.sleep(1.5)  # longer than the settle window the finished_at cursor trusted
        seen, cursor = drain(mes_client, "")
        # The later results are committed, but the feed waits for the held one.
        assert seen == [str(earlier.id)]
    finally:
        release.set()
        holder.join()
    rest, _ = drain(mes_client, cursor)
    assert rest == [str(row.id) for row in held + later]


def test_concurrent_writers_and_a_polling_reader_see_every_result_once(mes_client):
    line = make_line(code="hold-2")
    rows = [accept(line) for _ in range(60)]
    shares = [rows[n::3] for n in range(3)]
    random.seed(5)

    @closing_connections
    def writer(share: list[Inspection]) -> None:
        for row in share:
            with transaction.atomic():
                end(row)
                time.sleep(random.uniform(0, 0.03))  # commits land out of start order

    threads = [threading.Thread(target=writer, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    seen: list[str] = []
    cursor = ""
    while any(thread.is_alive() for thread in threads):
        page, cursor = drain(mes_client, cursor)
        seen += page
    for thread in threads:
        thread.join()
    page, cursor = drain(mes_client, cursor)
    seen += page
    assert sorted(seen) == sorted(str(row.id) for row in rows)
    assert len(seen) == len(set(seen))


def test_a_transaction_open_in_another_database_does_not_hold_the_feed_back(mes_client):
    """The horizon counts Kensa's database only: a long transaction of another database on the
    same server (a report, a backup, another application) must not stall the MES."""
    line = make_line(code="hold-3")
    row = accept(line)
    with transaction_in_another_database():  # holds a transaction id, left open
        end(row)
        seen, _ = drain(mes_client, "")
        assert seen == [str(row.id)]

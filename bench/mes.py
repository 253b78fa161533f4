"""The MES feed: how fast an MES drains `GET /api/v1/results/` through daphne, against a bare
loop that runs the same SQL with psycopg and encodes the same JSON once per page.

The benchmark fills a database of its own with finished inspections (1 to 3 defects each, one
transaction per 500 results, as the worker's rounds commit them), starts daphne as
docker/compose.yaml serves the API, and drains the feed by cursor with an API client's token
(pages of `--page`). In the same run the bare loop (`bare_pages`) pages through the same rows
with the statements the view runs: the visible horizon, the page of inspections with their
line, station and model, and the page's defects. The two are timed a page each in turn, so
that both see the same load on a shared machine. It also checks that a page costs the same
number of queries at the start of the feed and near its end, counts the PostgreSQL sessions
open on the database while daphne drains (they must stay within the per-process pool), and,
when the webhooks benchmark is present, prints webhook deliveries per second.

    .venv/bin/python bench/mes.py [--results 100000] [--page 500]

Ends with `RESULT feed_rps=<x> bare_rps=<y> ratio=<x/y> queries_per_page=<n>`.
"""

import argparse
import http.client
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
DATABASE = "kensa_bench_mes"
LABELS = ["scratch", "dent", "stain"]
FILL_BATCH = 500
TIMINGS = {"fetch_ms": 3.1, "preprocess_ms": 11.4, "batch_wait_ms": 8.0, "model_ms": 42.7, "batch_size": 8}


def fill(count: int) -> None:
    """`count` finished inspections on one line, in transactions of FILL_BATCH, each stamped
    with its transaction's feed position as the worker's rounds are."""
    from django.db import transaction

    from inspection import feed
    from inspection.constants import Status, Verdict
    from inspection.models import Defect, Inspection, InspectionModel
    from lines.models import ProductionLine
    from lines.services import station_create

    line = ProductionLine.objects.create(code="bench", name="Bench line", queue_limit=10**9)
    model = InspectionModel.objects.create(
        name="bench",
        version="1",
        architecture="mobilenet_v3_small",
        artifact="models/bench.pt",
        sha256="0" * 64,
        labels=["good", *LABELS],
        good_labels=["good"],
        thresholds={"scratch": 0.6},
    )
    stations = [station_create(line=line, code=f"cam-{n}")[0] for n in range(4)]
    rng = random.Random(1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = 0
    while made < count:
        size = min(FILL_BATCH, count - made)
        rows, defects = [], []
        for n in range(made, made + size):
            at = start + timedelta(milliseconds=250 * n)
            row = Inspection(
                id=uuid.UUID(int=rng.getrandbits(128), version=4),
                line=line,
                station=stations[n % len(stations)],
                serial=f"SN-{n:08d}",
                image_key=f"inspections/bench/{n}.jpg",
                image_sha256=f"{n:064x}",
                image_bytes=150_000,
                image_format="JPEG",
                width=1280,
                height=1024,
                captured_at=at,
                received_at=at,
                queued_at=at,
                started_at=at + timedelta(milliseconds=20),
                finished_at=at + timedelta(milliseconds=90),
                status=Status.DONE,
                deadline_at=at + timedelta(minutes=5),
                attempts=1,
                model=model,
                verdict=Verdict.FAIL,
                timings={
                    "fetch_ms": 3.1,
                    "preprocess_ms": 11.4,
                    "batch_wait_ms": 8.0,
                    "model_ms": 42.7,
                    "batch_size": 8,
                },
            )
            rows.append(row)
            for _ in range(rng.randint(1, 3)):
                x, y = rng.randrange(1200), rng.randrange(900)
                defects.append(
                    Defect(
                        inspection=row,
                        label=rng.choice(LABELS),
                        confidence=round(rng.uniform(0.5, 1.0), 4),
                        box=[x, y, x + 40, y + 30],
                        area=900,
                    )
                )
        with transaction.atomic():
            Inspection.objects.bulk_create(rows)
            Inspection.objects.filter(id__in=[row.id for row in rows]).update(feed_position=feed.position_expression())
            Defect.objects.bulk_create(defects)
        made += size


def start_daphne(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"daphne did not start:\n{log.read_text()[-3000:]}")


def feed_pages(port: int, token: str, page: int, client_time: list[float]) -> Iterator[int]:
    """Drain the feed through daphne by cursor, a page per step; yields each page's size. The
    client's own parsing of the answer is added to `client_time`, for the caller to take out:
    the benchmark measures the server, and the bare loop has no client."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Host": "127.0.0.1"}
    cursor = ""
    while True:
        connection.request("GET", f"/api/v1/results/?limit={page}&cursor={cursor}", headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"feed answered {response.status}: {body[:300]!r}")
        started = time.perf_counter()
        answer = json.loads(body)
        client_time[0] += time.perf_counter() - started
        yield len(answer["results"])
        cursor = answer["next_cursor"]
        if not answer["has_more"]:
            return


# The statements the feed view runs for a page (results/selectors.py, inspection/feed.py),
# written out for psycopg.
HORIZON_NEXT = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
HORIZON_RUNNING = (
    "SELECT backend_xid::text::bigint FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL"
)
PAGE = """
SELECT i.id, i.serial, i.status, i.verdict, i.error_code, i.image_sha256, i.image_format, i.width,
       i.height, i.captured_at, i.received_at, i.started_at, i.finished_at, i.attempts, i.timings,
       i.feed_position, l.code, s.code, m.name, m.version, m.thresholds, m.default_threshold
FROM inspection_inspection i
JOIN lines_productionline l ON l.id = i.line_id
JOIN lines_station s ON s.id = i.station_id
LEFT JOIN inspection_inspectionmodel m ON m.id = i.model_id
WHERE i.feed_position < %s AND (i.feed_position, i.id) > (%s, %s)
ORDER BY i.feed_position, i.id
LIMIT %s
"""
DEFECTS = """
SELECT inspection_id, label, confidence, box, area FROM results_defect
WHERE inspection_id = ANY(%s) ORDER BY confidence DESC, id
"""


def bare_pages(url: str, page: int, base: str) -> Iterator[int]:
    """The ceiling: the same statements with psycopg, rows to dicts with the same links, one
    json.dumps a page; yields each page's size."""
    import psycopg

    from inspection.links import Links
    from inspection.models import thresholds_version

    def stamp(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    with psycopg.connect(url, autocommit=True) as connection:
        position, key = -1, uuid.UUID(int=0)
        while True:
            links = Links(base=base, expires=int(time.time()) + 900)
            (next_id,) = connection.execute(HORIZON_NEXT).fetchone()  # type: ignore[misc]
            running = [int(xid) for (xid,) in connection.execute(HORIZON_RUNNING).fetchall()]
            horizon = min([int(next_id), *running])
            rows = connection.execute(PAGE, (horizon, position, key, page)).fetchall()
            defects: dict[uuid.UUID, list[dict[str, Any]]] = {}
            for inspection_id, label, confidence, box, area in connection.execute(DEFECTS, ([row[0] for row in rows],)):
                defects.setdefault(inspection_id, []).append(
                    {"label": label, "confidence": confidence, "box": box, "area": area}
                )
            results = [
                {
                    "id": str(row[0]),
                    "url": links.detail(row[0]),
                    "line": row[16],
                    "station": row[17],
                    "serial": row[1],
                    "status": row[2],
                    "verdict": row[3],
                    "error_code": row[4],
                    "model": {
                        "name": row[18],
                        "version": row[19],
                        "thresholds_version": thresholds_version(row[20], row[21]),
                    },
                    "defects": defects.get(row[0], []),
                    "image_url": links.image(row[0]),
                    "image_sha256": row[5],
                    "image_format": row[6],
                    "width": row[7],
                    "height": row[8],
                    "captured_at": stamp(row[9]),
                    "received_at": stamp(row[10]),
                    "started_at": stamp(row[11]),
                    "finished_at": stamp(row[12]),
                    "attempts": row[13],
                    "timings": row[14],
                }
                for row in rows
            ]
            json.dumps({"results": results, "next_cursor": "x", "has_more": len(rows) == page})
            yield len(rows)
            if len(rows) < page:
                return
            position, key = rows[-1][15], rows[-1][0]


def interleaved(
    feed: Iterator[int], bare: Iterator[int], expected: int, feed_client: list[float]
) -> tuple[float, float]:
    """Results per second of each, timed a page at a time in turn, so that both see the same
    machine: on a shared one the load drifts by more than the difference being measured.
    `feed_client` is the feed client's parsing time, not counted."""
    spent = {"feed": 0.0, "bare": 0.0}
    seen = {"feed": 0, "bare": 0}
    pages = {"feed": feed, "bare": bare}
    while pages:
        for name in list(pages):
            started = time.perf_counter()
            size = next(pages[name], None)
            spent[name] += time.perf_counter() - started
            if size is None:
                del pages[name]
            else:
                seen[name] += size
    spent["feed"] -= feed_client[0]
    for name, count in seen.items():
        if count != expected:
            raise SystemExit(f"{name} read {count} results, {expected} were made")
    return expected / spent["feed"], expected / spent["bare"]


def queries_per_page(token: str, page: int, count: int) -> tuple[int, int]:
    """Queries of one page near the start of the feed and one near its end (in process)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from inspection.models import Inspection
    from results.api.pagination import encode_cursor

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    client.get("/api/v1/results/", {"limit": 1})  # records the client's first use (once a minute)
    counts = []
    for skip in (page, count - 2 * page):
        position, key = Inspection.objects.order_by("feed_position", "id").values_list("feed_position", "id")[skip - 1]
        assert position is not None
        cursor = encode_cursor(position, key)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/results/", {"limit": str(page), "cursor": cursor})
        assert response.status_code == 200 and len(response.json()["results"]) == page, response.status_code
        counts.append(len(queries))
    return counts[0], counts[1]


def sessions_sampler(admin_url: str, stop: threading.Event, peak: list[int]) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        while not stop.is_set():
            (sessions,) = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (DATABASE,)
            ).fetchone()  # type: ignore[misc]
            peak[0] = max(peak[0], int(sessions))
            stop.wait(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=100_000, help="finished inspections in the feed")
    parser.add_argument("--page", type=int, default=500, help="results per page")
    parser.add_argument("--rounds", type=int, default=3, help="drains of each; the medians are given")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--webhooks", type=int, default=2000, help="deliveries for the webhook rate (0: skip)")
    args = parser.parse_args()

    from bench.support import django_on_own_database, recreate_database

    workdir = Path(tempfile.mkdtemp(prefix="kensa-bench-mes-"))
    database_url = f"{args.postgres}/{DATABASE}"
    env = django_on_own_database(
        postgres=args.postgres,
        database=DATABASE,
        redis_url=args.redis_url,
        workdir=workdir,
        KENSA_RESULTS_MAX_PAGE_SIZE=str(max(1000, args.page)),
        KENSA_API_CLIENT_RATE="1000000/minute",
        KENSA_PLAIN_HTTP="true",
    )
    daphne = None
    try:
        subprocess.run([str(BIN / "python"), "manage.py", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
        started = time.perf_counter()
        fill(args.results)
        print(f"Filled {args.results} results in {time.perf_counter() - started:.0f} s")
        from results.mes.services import api_client_create

        _, token = api_client_create(name="bench-mes", scopes=["results:read"], all_lines=True)
        daphne = start_daphne(env, args.port, workdir / "daphne.log")

        feed_rates, bare_rates, peak = [], [], [0]
        for _ in range(args.rounds):
            stop = threading.Event()
            sampler = threading.Thread(target=sessions_sampler, args=(f"{args.postgres}/postgres", stop, peak))
            sampler.start()
            try:
                client_time = [0.0]
                feed = feed_pages(args.port, token, args.page, client_time)
                bare = bare_pages(database_url, args.page, f"http://127.0.0.1:{args.port}")
                feed_rps, bare_rps = interleaved(feed, bare, args.results, client_time)
            finally:
                stop.set()
                sampler.join()
            feed_rates.append(feed_rps)
            bare_rates.append(bare_rps)
            print(f"  feed {feed_rates[-1]:8.0f} results/s   bare {bare_rates[-1]:8.0f} results/s")
        first, last = queries_per_page(token, args.page, args.results)
        print(f"Queries per page: {first} at the start of the feed, {last} near its end")
        print(f"PostgreSQL sessions on the database while daphne drained: at most {peak[0]}")
        if args.webhooks:
            from bench.webhooks import measure

            rate = measure(args.webhooks)
            print(f"Webhook deliveries: {rate:.0f}/s to a local receiver (bench/webhooks.py measures them alone)")
        feed_rps, bare_rps = statistics.median(feed_rates), statistics.median(bare_rates)
        ratio = statistics.median(f / b for f, b in zip(feed_rates, bare_rates, strict=True))
        queries = max(first, last)
        print(
            f"RESULT feed_rps={feed_rps:.0f} bare_rps={bare_rps:.0f} ratio={ratio:.2f} "
            f"queries_per_page={queries}{'' if first == last else f' (start {first}, end {last}: not constant)'}"
        )
    finally:
        if daphne is not None:
            daphne.terminate()
            daphne.wait(20)
        from django.db import connections

        connections.close_all()
        recreate_database(f"{args.postgres}/postgres", DATABASE, drop_only=True)


if __name__ == "__main__":
    main()

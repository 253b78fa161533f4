"""MQTT publisher throughput: finished results published per second by results/mqtt/relay.py
with its pages (every result of a page in flight at once, one wait for their PUBACKs, one
cursor write), against the same publisher one result at a time (publish, wait for the PUBACK,
move the cursor), in one run, on the same machine, against a private Mosquitto.

Sets up its own database (kensa_bench_mqtt) with --results finished inspections, drops it at
the end. Needs PostgreSQL as the other benchmarks do, and /usr/sbin/mosquitto.

Ends with: RESULT paged_rps=<x> single_rps=<y> ratio=<x/y>
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATABASE = "kensa_bench_mqtt"


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    import pwd
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = workdir / "mosquitto.conf"
    user = pwd.getpwuid(os.geteuid()).pw_name
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser {user}\n")
    broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(config)], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return broker, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def make_results(count: int) -> None:
    """`count` finished inspections in the feed, as the worker leaves them (written in bulk:
    the benchmark is about publishing, not about making results)."""
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from inspection.constants import ErrorCode, Status
    from inspection.lifecycle.finish import inspections_finish
    from inspection.models import Inspection
    from lines.models import ProductionLine
    from lines.services import station_create

    line = ProductionLine.objects.create(code="bench", name="Bench line")
    station, _ = station_create(line=line, code="cam-1")
    now = timezone.now()
    rows = [
        Inspection(
            line=line,
            station=station,
            serial=f"SN-{n}",
            image_key=f"bench/{uuid.uuid4()}",
            image_sha256="0" * 64,
            image_bytes=150_000,
            image_format="JPEG",
            width=1280,
            height=1024,
            received_at=now,
            queued_at=now,
            deadline_at=now + timedelta(hours=1),
        )
        for n in range(count)
    ]
    Inspection.objects.bulk_create(rows, batch_size=1000)
    for start in range(0, count, 500):  # 500 a transaction: many positions, as many rounds leave them
        ids = [row.id for row in rows[start : start + 500]]
        inspections_finish(
            Inspection.objects.filter(id__in=ids).waiting(),
            status=Status.FAILED,
            error_code=ErrorCode.IMAGE_DECODE_FAILED,
        )


def publish_all(port: int, name: str, page_size: int, count: int) -> float:
    """Seconds until a new publisher's cursor has passed all `count` results."""
    from results.mqtt.broker import BrokerAddress, BrokerConnection
    from results.mqtt.cursor import mqtt_cursor_get_or_create
    from results.mqtt.relay import FeedPublisher, status_topic

    connection = BrokerConnection(
        BrokerAddress.from_url(f"mqtt://127.0.0.1:{port}"),
        client_id=f"bench-{name}",
        status_topic=status_topic("bench", name),
        max_inflight=page_size,
    )
    connection.start()
    assert connection.connected.wait(10), "no connection to the broker"
    publisher = FeedPublisher(
        cursor=mqtt_cursor_get_or_create(name=name),
        connection=connection,
        prefix="bench",
        poll_seconds=0.1,
        stop=threading.Event(),
        page_size=page_size,
    )
    published = 0
    started = time.perf_counter()
    while published < count:
        sent = publisher.publish_next_page()
        assert sent > 0, "a page was not acknowledged"
        published += sent
    seconds = time.perf_counter() - started
    connection.stop()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=2000, help="finished results to publish, per publisher")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    # Finishing results tells the dashboards (the channel layer): never Redis database 0, a demo's.
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="kensa-bench-mqtt-"))
    from bench.support import django_on_own_database, recreate_database

    django_on_own_database(postgres=args.postgres, database=DATABASE, redis_url=args.redis_url, workdir=workdir)
    broker, port = start_broker(workdir)
    try:
        from django.core.management import call_command

        from results.mqtt.relay import PAGE_SIZE

        call_command("migrate", verbosity=0)
        make_results(args.results)
        # Alternated, twice each: these machines' speed drifts within minutes.
        single = paged = 0.0
        for round_ in range(2):
            single += publish_all(port, f"single-{round_}", 1, args.results)
            paged += publish_all(port, f"paged-{round_}", PAGE_SIZE, args.results)
        single_rps, paged_rps = 2 * args.results / single, 2 * args.results / paged
        print(f"  one at a time: {single_rps:8.0f} results/s")
        print(f"  pages of {PAGE_SIZE}:  {paged_rps:8.0f} results/s")
    finally:
        broker.terminate()
        broker.wait()
        from django.db import connections

        connections.close_all()
        recreate_database(f"{args.postgres}/postgres", DATABASE, drop_only=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"RESULT paged_rps={paged_rps:.0f} single_rps={single_rps:.0f} ratio={paged_rps / single_rps:.2f}")


if __name__ == "__main__":
    main()

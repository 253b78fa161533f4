"""Webhook benchmark: deliveries per second from finished results to a local receiver, against
the bare HTTP rate to the same receiver, in one run.

    .venv/bin/python bench/webhooks.py --results 2000

(a) bare: the same number of POSTs of a result-sized body, on KENSA_WEBHOOK_CONCURRENCY threads
    sharing one httpx client, with no database, signing or bookkeeping: what the receiver and
    the HTTP stack allow on this machine;
(b) kensa: --results finished inspections fanned out to deliveries and sent as the notify worker
    does (results/webhooks/services.py): feed read, delivery rows, claims, payloads, Standard
    Webhooks signatures, the POSTs and every attempt recorded.
The receiver is a process of its own (this script with --serve) that answers 204 without
verifying, so that it costs both runs the same. (b) runs in this process, without Celery: the
task adds one message per run, not per delivery.

`measure(results=…, concurrency=…)` runs (b) alone in a configured Django (bench/mes.py calls it)
and returns deliveries/s. Needs PostgreSQL and Redis on localhost; main() creates and drops its
own database. Ends with: RESULT kensa_deliveries_per_s=<x> bare_per_s=<y> ratio=<x/y>
"""

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "kensa_bench_webhooks"


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy answers

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def serve(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Receiver).serve_forever()


def start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(port)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}/kensa"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the bench receiver did not start")


def finished_results(count: int) -> Any:
    """A line of its own with `count` finished inspections in the feed (rows only: no images)."""
    import uuid

    from django.utils import timezone

    from inspection.constants import Status, Verdict
    from inspection.models import Inspection
    from lines.models import ProductionLine
    from lines.services import station_create

    code = f"bench-hooks-{uuid.uuid4().hex[:8]}"
    line = ProductionLine.objects.create(code=code, name="Webhook bench", inspection_model=None)
    station, _ = station_create(line=line, code="cam-1")
    now = timezone.now()
    common = {"received_at": now, "queued_at": now, "started_at": now, "finished_at": now, "deadline_at": now}
    Inspection.objects.bulk_create(
        [
            Inspection(
                line=line,
                station=station,
                serial=f"BENCH-{n:06d}",
                image_key=f"bench/{n}.jpg",
                image_sha256="0" * 64,
                image_bytes=150_000,
                image_format="jpeg",
                width=1280,
                height=1024,
                status=Status.DONE,
                verdict=Verdict.PASS,
                attempts=1,
                timings={"model_ms": 12.5, "decode_ms": 8.1},
                feed_position=1,  # below any horizon: visible at once
                **common,
            )
            for n in range(count)
        ],
        batch_size=1000,
    )
    return line


def measure(results: int = 2000, *, concurrency: int = 8, url: str | None = None) -> float:
    """Deliveries/s for `results` finished inspections to a receiver at `url` (one is started
    when none is given), in a configured Django with a migrated database."""
    from django.conf import settings

    from results.webhooks.constants import DeliveryState
    from results.webhooks.models import WebhookDelivery, WebhookSubscription
    from results.webhooks.services import deliveries_fan_out, deliveries_send_due, subscription_create

    receiver = None
    if url is None:
        receiver, url = start_receiver()
    saved = (settings.KENSA_WEBHOOK_ALLOWED_NETWORKS, settings.KENSA_WEBHOOK_CONCURRENCY)
    settings.KENSA_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.KENSA_WEBHOOK_CONCURRENCY = concurrency
    line = finished_results(results)
    subscription, _ = subscription_create(name=f"bench-{line.code}", url=url, lines=[line])
    WebhookSubscription.objects.filter(id=subscription.id).update(cursor_position=None, cursor_inspection_id=None)
    try:
        started = time.perf_counter()
        deliveries_fan_out()
        while deliveries_send_due():
            pass
        elapsed = time.perf_counter() - started
        delivered = WebhookDelivery.objects.filter(subscription=subscription, state=DeliveryState.DELIVERED).count()
        if delivered != results:
            raise RuntimeError(f"{delivered} of {results} delivered")
        return results / elapsed
    finally:
        settings.KENSA_WEBHOOK_ALLOWED_NETWORKS, settings.KENSA_WEBHOOK_CONCURRENCY = saved
        subscription.delete()
        line.inspections.all().delete()
        line.stations.all().delete()
        line.delete()
        if receiver is not None:
            receiver.kill()
            receiver.wait()


def bare(results: int, *, concurrency: int, url: str, body: bytes) -> float:
    import httpx

    with httpx.Client(limits=httpx.Limits(max_connections=concurrency * 2)) as client:

        def post(_: int) -> None:
            client.post(url, content=body, headers={"content-type": "application/json"}).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(post, range(results)))
        return results / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8, help="KENSA_WEBHOOK_CONCURRENCY")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    from bench.support import django_on_own_database, recreate_database

    workdir = Path(tempfile.mkdtemp(prefix="kensa-bench-webhooks-"))
    django_on_own_database(postgres=args.postgres, database=DATABASE, redis_url=args.redis_url, workdir=workdir)
    receiver, url = start_receiver()
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
        # A result's body as Kensa sends it, for the bare run: about 900 bytes.
        body = b'{"type":"inspection.finished","data":{' + b'"x":"' + b"0" * 850 + b'"}}'
        bare_rate = bare(args.results, concurrency=args.concurrency, url=url, body=body)
        print(f"bare:  {bare_rate:8.0f} POSTs/s ({args.results}, {args.concurrency} threads)")
        kensa_rate = measure(args.results, concurrency=args.concurrency, url=url)
        print(f"kensa: {kensa_rate:8.0f} deliveries/s")
        ratio = kensa_rate / bare_rate
        print(f"RESULT kensa_deliveries_per_s={kensa_rate:.0f} bare_per_s={bare_rate:.0f} ratio={ratio:.2f}")
    finally:
        receiver.kill()
        receiver.wait()
        from django.db import connections

        connections.close_all()
        recreate_database(f"{args.postgres}/postgres", DATABASE, drop_only=True)


if __name__ == "__main__":
    main()

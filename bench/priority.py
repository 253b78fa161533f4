"""Priority benchmark: does a critical line keep its latency beside a low line's flood, in one run
of one worker (issue #26, docs/priority.md)?

    .venv/bin/python bench/priority.py                 # the issue's run: a 60 s flood
    .venv/bin/python bench/priority.py --seconds 20    # a quicker look
    .venv/bin/python bench/priority.py --two-models    # the two lines on different models

One worker process as production runs it (threads pool, --threads, prefetch 1, batch
--batch-size), two lines: `critical` (priority critical, latency target --target-ms) and `low`
(priority low). Both on one resnet18 at 224 px with random weights (the work of a real model;
its verdicts do not matter here), or with --two-models each on its own. Uploads go through the
door's own steps (image checked and stored, backlog checked, rows committed in groups and their
messages sent), from this process, as a station's uploads would arrive: every 100 ms a line
commits what arrived meanwhile.

(1) capacity: 10 batches of low-line images accepted at once, drained; images/s, and the p95
    of one full batch's forward time (the worker's own `model_ms`), printed;
(2) alone: the critical line at --critical-rate images/s for --alone-seconds; its latency
    (upload to verdict: finished_at - received_at);
then the low line alone at twice the capacity for half of --seconds (at most 30 s): its
    rate with this process's uploads sharing the cores, the baseline for its rate in (3);
(3) flood: the same critical line, and the low line at twice the capacity, for --seconds.
    The low line's queue_limit is 20 s of capacity, so a long flood is shed at the door
    (503 line_backlog_full) and the shed uploads are counted. The sweeper's re-send runs every
    5 s with a re-send age of 10 s, shorter than the low line's wait, so a duplicate it made
    would show as an inspection claimed twice. Then everything accepted is drained.

The unavoidable wait of a critical image is the batch already in the model: the ratio is the
critical p95 beside the flood over (p95 alone + p95 of a full batch). The batch's p95 in the
RESULT is that of the low line's batches during the flood (those at least three quarters full,
scaled per image to a full one), the ones a critical image waited behind, measured while its
latency was: these machines' speed drifts between phases. Needs PostgreSQL and Redis
on localhost; creates and drops its own database. Ends with:
RESULT capacity_ips=<c> crit_p95_alone_ms=<a> crit_p95_flood_ms=<b> batch_p95_ms=<f> ratio=<b/(a+f)>
"""

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lines.models import ProductionLine, Station

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

DATABASE = "kensa_bench_priority"
TICK_SECONDS = 0.1
LABELS = ["good", "scratch"]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else (values[0] if values else 0.0)


@dataclass
class Feed:
    """What a feeder thread sent: accepted inspection ids, and uploads shed at the door."""

    accepted: list[str] = field(default_factory=list)
    shed: int = 0


def feed(
    station: "Station", images: list[bytes], rate: float, seconds: float, out: Feed, stop: threading.Event
) -> None:
    """Upload `rate` images/s for `seconds` through the door's steps, one commit per tick."""
    from django.db import close_old_connections

    from inspection.errors import KensaError
    from inspection.ingest import storage
    from inspection.ingest.backlog import gauge
    from inspection.ingest.services import Upload, check_line_accepts, inspection_stored, inspections_record_group

    started, sent, n = time.monotonic(), 0, 0
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if elapsed >= seconds:
                break
            due = int(rate * min(elapsed + TICK_SECONDS, seconds)) - sent
            rows = []
            for _ in range(max(0, due)):
                sent += 1
                try:
                    check_line_accepts(station.line, backlog_full=gauge.get().full(station.line))
                except KensaError:
                    out.shed += 1
                    continue
                data = images[n % len(images)]
                n += 1
                upload = Upload(io.BytesIO(data), len(data), f"{station.line.code}-{n}", None)
                rows.append(inspection_stored(station, upload, storage.sha256_of(upload.stream)))
            if rows:
                outcomes = inspections_record_group(rows)
                if any(outcomes):
                    raise RuntimeError(f"rows refused: {[o for o in outcomes if o][:3]}")
                out.accepted += [str(row.id) for row in rows]
            time.sleep(max(0.0, started + elapsed + TICK_SECONDS - time.monotonic()))
    finally:
        close_old_connections()


def run_feeds(plans: list[tuple["Station", float]], images: list[bytes], seconds: float, sweep: bool) -> list[Feed]:
    """Feed each (station, rate) in a thread of its own for `seconds`; with `sweep`, run the
    sweeper's re-send every 5 s meanwhile, as beat would."""
    from django.db import close_old_connections

    from inspection.lifecycle.sweeper import inspections_requeue_stale

    stop = threading.Event()
    feeds = [Feed() for _ in plans]
    threads = [
        threading.Thread(target=feed, args=(station, images, rate, seconds, out, stop))
        for (station, rate), out in zip(plans, feeds, strict=True)
    ]
    for thread in threads:
        thread.start()
    requeued = 0
    try:
        while any(thread.is_alive() for thread in threads):
            time.sleep(5 if sweep else 0.5)
            if sweep:
                requeued += inspections_requeue_stale()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        close_old_connections()
    if sweep:
        print(f"  sweeper: {requeued} inspections re-sent during the flood")
    return feeds


def sweep_while(wait: Callable[[], None]) -> None:
    """Run `wait` with the sweeper's re-send every 5 s beside it, as beat runs it."""
    from django.db import close_old_connections

    from inspection.lifecycle.sweeper import inspections_requeue_stale

    done = threading.Event()

    def sweep() -> None:
        try:
            while not done.wait(5):
                inspections_requeue_stale()
        finally:
            close_old_connections()

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    try:
        wait()
    finally:
        done.set()
        sweeper.join()


def wait_done(ids: list[str], timeout: float) -> None:
    from inspection.constants import Status
    from inspection.models import Inspection

    deadline = time.monotonic() + timeout
    while Inspection.objects.filter(id__in=ids, status__in=[Status.QUEUED, Status.RUNNING]).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"inspections still unfinished after {timeout} s")
        time.sleep(0.5)


def latencies_ms(ids: list[str]) -> list[float]:
    """Upload to verdict of `ids`, every one of which must be done."""
    from inspection.constants import Status
    from inspection.models import Inspection

    rows = list(Inspection.objects.filter(id__in=ids).values_list("status", "received_at", "finished_at"))
    not_done = [status for status, _, _ in rows if status != Status.DONE]
    if len(rows) != len(ids) or not_done:
        raise RuntimeError(f"critical inspections not done: {len(ids) - len(rows)} missing, {len(not_done)} not done")
    return sorted((finished - received).total_seconds() * 1000 for _, received, finished in rows if finished)


def describe(name: str, values: list[float]) -> str:
    return (
        f"{name}: {len(values)} images, p50 {statistics.median(values):.0f} ms, p95 {p95(values):.0f} ms, "
        f"max {max(values):.0f} ms"
    )


def register_resnet(line_code: str, seed: int) -> None:
    """A resnet18 with random weights (seeded), registered and promoted on the line."""
    import torch
    import torchvision

    from inspection.inference.registry import check_artifact, inspection_model_register, model_promote
    from lines.models import ProductionLine

    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save(torchvision.models.get_model("resnet18", weights=None, num_classes=len(LABELS)).state_dict(), buffer)
    spec = inspection_model_register(
        name=f"bench-resnet18-{seed}",
        version="1",
        architecture="resnet18",
        artifact=buffer.getvalue(),
        labels=LABELS,
        good_labels=["good"],
        input_size=224,
        mean=[0.485, 0.456, 0.406],
        std=[0.229, 0.224, 0.225],
        line=ProductionLine.objects.get(code=line_code),
        checker=check_artifact,
    )
    model_promote(model=spec, by="bench/priority.py")


def start_worker(env: dict[str, str], *, batch_size: int, threads: int, log: Path) -> subprocess.Popen[bytes]:
    command = [str(BIN / "celery"), "-A", "config", "worker", "--pool", "threads", "-c", str(threads)]
    command += ["-Q", "inspect.critical,inspect.high,inspect.normal,inspect.low,default", "-l", "WARNING"]
    command += ["-n", "bench-priority@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with log.open("ab") as output:
        return subprocess.Popen(
            # A connection per thread, plus two, as config/settings.py sizes a worker's pool.
            command,
            env={**env, "KENSA_BATCH_SIZE": str(batch_size), "KENSA_DB_POOL_SIZE": str(threads + 2)},
            cwd=ROOT,
            stdout=output,
            stderr=output,
        )


def capacity(station: "Station", images: list[bytes], batch_size: int) -> tuple[float, float]:
    """Images/s of the worker draining 10 batches accepted at once, and the p95 of the forward
    time of its full batches (ms)."""
    from django.db.models import Max

    from inspection.ingest import storage
    from inspection.ingest.services import Upload, inspection_stored, inspections_record_group
    from inspection.models import Inspection

    count = 10 * batch_size
    rows = []
    for n in range(count):
        data = images[n % len(images)]
        upload = Upload(io.BytesIO(data), len(data), f"CAP-{n}", None)
        rows.append(inspection_stored(station, upload, storage.sha256_of(upload.stream)))
    for start in range(0, count, batch_size):  # as the door's commits under load: a batch each
        inspections_record_group(rows[start : start + batch_size])
    committed = time.time()
    ids = [str(row.id) for row in rows]
    wait_done(ids, timeout=600)
    finished = Inspection.objects.filter(id__in=ids)
    last = finished.aggregate(last=Max("finished_at"))["last"]
    forward = [
        float(timings["model_ms"])
        for timings in finished.values_list("timings", flat=True)
        if timings.get("batch_size") == batch_size
    ]
    return count / (last.timestamp() - committed), p95(forward) if forward else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="length of the flood")
    parser.add_argument("--alone-seconds", type=float, default=20, help="length of the critical line alone")
    parser.add_argument("--critical-rate", type=float, default=2.0, help="the critical line's images/s")
    parser.add_argument("--target-ms", type=int, default=1000, help="the critical line's latency target")
    parser.add_argument("--two-models", action="store_true", help="each line on a model of its own")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()
    if args.seconds < 12:
        # The first 5 s of each flood only fill the worker; the rates are read after them.
        parser.error("--seconds must be at least 12")

    workdir = Path(tempfile.mkdtemp(prefix="kensa-bench-priority-"))
    from bench.support import django_on_own_database, recreate_database

    env = django_on_own_database(
        postgres=args.postgres,
        database=DATABASE,
        redis_url=args.redis_url,
        workdir=workdir,
        # The sweeper here re-sends after 10 s, shorter than the low line's wait in the flood.
        KENSA_REQUEUE_AFTER_SECONDS="10",
    )
    import redis
    from django.db.models import Count

    from bench.inference import camera_jpegs
    from inspection.models import Inspection
    from lines.models import ProductionLine
    from lines.services import station_create

    worker = None
    try:
        subprocess.run([str(BIN / "python"), "manage.py", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
        redis.Redis.from_url(args.redis_url).flushdb()
        critical = ProductionLine.objects.create(
            code="critical", name="Critical line", priority="critical", latency_target_ms=args.target_ms
        )
        low = ProductionLine.objects.create(code="low", name="Low line", priority="low", queue_limit=10**9)
        register_resnet("low", seed=1)
        if args.two_models:
            register_resnet("critical", seed=2)
        else:
            ProductionLine.objects.filter(id=critical.id).update(
                inspection_model=ProductionLine.objects.get(id=low.id).inspection_model
            )
        critical_station, _ = station_create(line=ProductionLine.objects.get(id=critical.id), code="cam-1")
        low_station, _ = station_create(line=ProductionLine.objects.get(id=low.id), code="cam-1")
        images = camera_jpegs(16)
        models = "two resnet18 (one per line)" if args.two_models else "one resnet18 for both lines"
        print(f"One worker: threads pool, {args.threads} threads, batch {args.batch_size}; {models}, 224 px")

        worker = start_worker(env, batch_size=args.batch_size, threads=args.threads, log=workdir / "worker.log")
        # Warm-up: torch imported, the models loaded, a few batches run on each line.
        run_feeds([(low_station, 40.0), (critical_station, 10.0)], images, 3, sweep=False)
        wait_done([str(i) for i in Inspection.objects.values_list("id", flat=True)], timeout=300)

        rate, capacity_batch_ms = capacity(low_station, images, args.batch_size)
        print(f"(1) capacity: {rate:.1f} images/s; a full batch's forward pass p95 {capacity_batch_ms:.0f} ms")

        # The low line's flood alone: its rate with this process's uploads taking their share of
        # the cores, the baseline for its rate beside the critical line.
        low_alone_seconds = min(30.0, args.seconds / 2)
        started = time.time()
        [low_alone_feed] = run_feeds([(low_station, 2 * rate)], images, low_alone_seconds, sweep=False)
        low_alone_rate = low_done_rate(low, started + 5, time.time())
        wait_done(low_alone_feed.accepted, timeout=900)
        print(
            f"    the low line's flood alone: {low_alone_rate:.1f} images/s done "
            f"({low_alone_rate / rate:.2f} of capacity)"
        )

        [alone_feed] = run_feeds([(critical_station, args.critical_rate)], images, args.alone_seconds, sweep=False)
        wait_done(alone_feed.accepted, timeout=120)
        alone = latencies_ms(alone_feed.accepted)
        print("(2) " + describe("critical alone", alone))

        # A long flood is shed at the door once the low line holds 20 s of work.
        ProductionLine.objects.filter(id=low.id).update(queue_limit=max(1, int(rate * 20)))
        low_station.line.refresh_from_db()
        flood_started = time.time()
        crit_feed, low_feed = run_feeds(
            [(critical_station, args.critical_rate), (low_station, 2 * rate)], images, args.seconds, sweep=True
        )
        flood_ended = time.time()
        wait_done(crit_feed.accepted, timeout=120)
        flood = latencies_ms(crit_feed.accepted)
        print("(3) " + describe("critical beside the flood", flood))
        # The low line's rate once the flood is under way (its first 5 s fill the worker).
        low_rate = low_done_rate(low, flood_started + 5, flood_ended)
        print(
            f"    low line: {len(low_feed.accepted)} accepted, {low_feed.shed} shed at the door (503 "
            f"line_backlog_full); critical line: {crit_feed.shed} shed; low done during the flood "
            f"{low_rate:.1f} images/s: {low_rate / rate:.2f} of capacity, {low_rate / low_alone_rate:.2f} of its "
            f"flood alone"
        )
        # The batches a critical image waited behind: the low line's full ones during the flood,
        # measured as the critical latency was, on a machine whose speed drifts.
        batch_ms = p95(full_batch_times(low, args.batch_size, flood_started, flood_ended))
        print(f"    a full batch's forward pass during the flood: p95 {batch_ms:.0f} ms (batches 3/4 full or more)")
        sweep_while(lambda: wait_done(low_feed.accepted, timeout=900))
        states = dict(
            Inspection.objects.filter(id__in=low_feed.accepted)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        twice = Inspection.objects.filter(attempts__gt=1).count()
        print(f"    low line drained: {states}; inspections claimed more than once: {twice}")
    except BaseException:
        log = workdir / "worker.log"
        print(log.read_text(errors="replace")[-3000:] if log.exists() else "(no worker log)")
        raise
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=60)
        from django.db import connections

        connections.close_all()
        recreate_database(f"{args.postgres}/postgres", DATABASE, drop_only=True)
        redis.Redis.from_url(args.redis_url).flushdb()
        shutil.rmtree(workdir, ignore_errors=True)

    a, b = p95(alone), p95(flood)
    print(
        f"RESULT capacity_ips={rate:.1f} crit_p95_alone_ms={a:.0f} crit_p95_flood_ms={b:.0f} "
        f"batch_p95_ms={batch_ms:.0f} ratio={b / (a + batch_ms):.2f}"
    )


def full_batch_times(line: "ProductionLine", size: int, since: float, until: float) -> list[float]:
    """A full batch's forward time (ms), from the line's images that ran between two times in
    batches at least three quarters full, scaled per image to `size`: beside a critical line
    on another model, most of the low line's batches hold one image fewer."""
    from inspection.models import Inspection

    finished = Inspection.objects.filter(line=line, finished_at__gte=_at(since), finished_at__lt=_at(until))
    return [
        float(t["model_ms"]) * size / t["batch_size"]
        for t in finished.values_list("timings", flat=True)
        if t.get("batch_size", 0) >= 0.75 * size
    ]


def low_done_rate(line: "ProductionLine", since: float, until: float) -> float:
    """Images/s of `line` finished done between two times."""
    from inspection.constants import Status
    from inspection.models import Inspection

    done = Inspection.objects.filter(
        line=line, status=Status.DONE, finished_at__gte=_at(since), finished_at__lt=_at(until)
    )
    return done.count() / (until - since)


def _at(timestamp: float) -> "datetime":
    return datetime.fromtimestamp(timestamp, tz=UTC)


if __name__ == "__main__":
    main()

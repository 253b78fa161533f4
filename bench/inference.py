"""Inference benchmark: how close the worker comes to the bare model, in one run, on the same
images (1280 x 1024 camera JPEGs of synthetic parts) and the demo classification model.

    .venv/bin/python bench/inference.py --images 400

(a) bare: preprocess (decode, resize, normalise) and forward pass in a tight loop, no queue,
    storage or database, at the best of several batch sizes; on a GPU the forward pass alone,
    since the worker decodes on the CPU cores while the GPU runs (decoding's own rate on the
    host's cores is printed beside it);
(b) single: a real worker process taking one image per task and per forward pass
    (KENSA_BATCH_SIZE=1, one thread);
(c) batched: a real worker process as production runs it (threads pool, KENSA_BATCH_SIZE
    and KENSA_BATCH_WAIT_MS): storage fetch, decode, preprocess, forward, postprocess,
    database write and live push, for every image; the inspections come in task messages of
    up to --group-size, as the door sends what one commit accepted (KENSA_TASK_GROUP_SIZE).
    The same worker is also run with one message per image, and printed for comparison.
(b) and (c) time the drain of --images inspections accepted at once by the door's group
write, from the commit that queues them to the last result written. (c) drains --rounds
times. The machines this runs on change speed by a quarter within minutes, so (a) is run again
at its best batch size right after (b) and after each round of (c), and each ratio is taken
against the bare rate measured next to it: c/a is the middle of the rounds' ratios.

Needs PostgreSQL and Redis on localhost; creates and drops its own database. The demo
classifier is trained once and kept in bench/out/ (see build_demo_model --artifacts).
Ends with: RESULT bare=<img/s> single=<img/s> batched=<img/s> c/a=<x> c/b=<y>
"""

import argparse
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inspection.inference.engine import LoadedModel
    from inspection.models import InspectionModel
    from lines.models import Station

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

DATABASE = "kensa_bench_inference"
BARE_BATCH_SIZES = (1, 8, 16, 32, 64)
GPU_BATCH_SIZES = (1, 8, 16, 32, 64, 128, 256)
DECODE_THREADS = len(os.sched_getaffinity(0))
ARTIFACTS = ROOT / "bench" / "out"


@dataclass(frozen=True)
class Measured:
    rate: float  # images/s
    # CPU time per image of the process doing the work, in ms: steadier than the rate on
    # these machines, whose speed drifts, and it shows what the worker spends beyond the work.
    cpu_ms: float


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def camera_jpegs(count: int) -> list[bytes]:
    """Camera-sized part photos with sensor noise, as a line camera sends them (~150 KB)."""
    import numpy as np

    from bench.support import camera_photo

    rng, noise = random.Random(11), np.random.default_rng(11)
    images = []
    for _ in range(count):
        buffer = io.BytesIO()
        camera_photo(rng, noise).save(buffer, "JPEG", quality=60)
        images.append(buffer.getvalue())
    return images


def bare(spec: "InspectionModel", images: list[bytes], count: int) -> tuple[float, int]:
    """Images/s of the necessary work alone, at the best batch size, and that size.

    On the CPU that is decode, resize and normalise, then the forward pass, one after the
    other. On a GPU it is the forward pass alone (pixels to the device, the model, answers
    back): there the worker decodes on the CPU cores while the GPU runs the previous batch,
    so the GPU's own rate is the ceiling. The CPU's decoding rate is printed beside it."""
    from inspection.inference import engine

    on_gpu = engine.load_model(spec).device.type == "cuda"
    best = (0.0, 0)
    for batch_size in GPU_BATCH_SIZES if on_gpu else BARE_BATCH_SIZES:
        rate = bare_rate(spec, images, count, batch_size)
        print(f"  bare, batch {batch_size:>3}{', forward pass alone' if on_gpu else ''}: {rate:8.1f} img/s")
        best = max(best, (rate, batch_size))
    if on_gpu:
        rate = decode_rate(images, engine.load_model(spec), count)
        print(f"  decoding alone on the CPU, {DECODE_THREADS} threads: {rate:8.1f} img/s")
    return best


def bare_rate(spec: "InspectionModel", images: list[bytes], count: int, batch_size: int) -> float:
    """(a) at one batch size: `count` images through the necessary work, images/s."""
    import torch

    from inspection.inference import engine

    loaded = engine.load_model(spec)
    on_gpu = loaded.device.type == "cuda"
    # All the cores for the forward pass: nothing else runs beside it here (loading set the
    # worker's share, KENSA_TORCH_THREADS).
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    # On a GPU the batches are made of pixels decoded beforehand (the worker decodes beside it).
    decoded = [engine.preprocess(image, loaded) for image in images] if on_gpu else []
    engine.infer(loaded, [engine.preprocess(images[0], loaded)] * batch_size)  # each size picks its kernels
    done = 0
    started = time.perf_counter()
    while done < count:
        if on_gpu:
            batch = [decoded[(done + i) % len(decoded)] for i in range(batch_size)]
        else:
            batch = [engine.preprocess(images[(done + i) % len(images)], loaded) for i in range(batch_size)]
        engine.infer(loaded, batch)
        done += batch_size
    return done / (time.perf_counter() - started)


def bare_measured(spec: "InspectionModel", images: list[bytes], count: int, batch_size: int) -> Measured:
    """bare_rate, with this process's CPU time per image."""
    started = time.process_time()
    rate = bare_rate(spec, images, count, batch_size)
    return Measured(rate, (time.process_time() - started) * 1000 / count)


def device_name() -> str:
    import torch

    from inspection.inference import engine

    device = engine.inference_device()
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__}), {DECODE_THREADS} CPU cores"
    return f"the CPU, {DECODE_THREADS} cores (torch {torch.__version__})"


def decode_rate(images: list[bytes], loaded: "LoadedModel", count: int) -> float:
    """Images/s that the worker's decoding step (fetched bytes to model pixels) reaches on
    this host's cores, in threads as the worker runs it."""
    from concurrent.futures import ThreadPoolExecutor

    from inspection.inference import engine

    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        started = time.perf_counter()
        list(pool.map(lambda n: engine.preprocess(images[n % len(images)], loaded), range(count)))
        return count / (time.perf_counter() - started)


def start_worker(env: dict[str, str], *, batch_size: int, threads: int, log: Path) -> subprocess.Popen[bytes]:
    command = [str(BIN / "celery"), "-A", "config", "worker", "--pool", "threads", "-c", str(threads)]
    command += ["-Q", "inspect.critical,inspect.high,inspect.normal,inspect.low,default", "-l", "WARNING"]
    command += ["-n", f"bench-{batch_size}@%h"]
    with log.open("ab") as output:
        return subprocess.Popen(
            command, env={**env, "KENSA_BATCH_SIZE": str(batch_size)}, cwd=ROOT, stdout=output, stderr=output
        )


def drain(station: "Station", images: list[bytes], count: int, timeout: float, *, group_size: int) -> float:
    """Accept `count` inspections in one commit of the door's group write, which queues them
    in messages of up to `group_size`; seconds until the last one is finished."""
    from django.db.models import Max
    from django.test import override_settings

    from inspection.constants import Status
    from inspection.ingest import storage
    from inspection.ingest.services import Upload, inspection_stored, inspections_record_group
    from inspection.models import Inspection

    rows = []
    for n in range(count):
        data = images[n % len(images)]
        upload = Upload(io.BytesIO(data), len(data), f"BENCH-{n}", None)
        rows.append(inspection_stored(station, upload, storage.sha256_of(upload.stream)))
    with override_settings(KENSA_TASK_GROUP_SIZE=group_size):
        outcomes = inspections_record_group(rows)  # rows committed, then messages sent together
    # The clock starts at the commit: storing the images and inserting the rows is ingest's
    # cost, measured by bench/ingest.py, not the worker's.
    committed = time.time()
    if any(outcomes):
        raise RuntimeError(f"the bench's rows were refused: {[o for o in outcomes if o][:3]}")
    batch = Inspection.objects.filter(id__in=[row.id for row in rows])
    deadline = time.monotonic() + timeout
    # A cheap poll (the bench's database holds only this run's inspections), and seldom: it
    # shares the cores with the worker, and the end time is read from the rows, not the poll.
    while Inspection.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not finish {count} inspections in {timeout} s")
        time.sleep(0.5)
    failed = batch.exclude(status=Status.DONE).count()
    if failed:
        raise RuntimeError(f"{failed} inspections did not finish as done")
    last = batch.aggregate(last=Max("finished_at"))["last"]
    return last.timestamp() - committed


def worker_rates(
    env: dict[str, str],
    station: "Station",
    images: list[bytes],
    count: int,
    *,
    batch_size: int,
    threads: int,
    group_size: int,
    log: Path,
    rounds: int = 1,
    after_each: Callable[[], Measured] | None = None,
) -> list[tuple[Measured, Measured | None]]:
    """Images/s and the worker's CPU per image of `rounds` drains by one worker process, each
    paired with what `after_each` measures right after it while the worker idles (the bare
    rate, for c/a)."""
    worker = start_worker(env, batch_size=batch_size, threads=threads, log=log)
    rates: list[tuple[Measured, Measured | None]] = []
    try:
        # Warm-up: torch imported, model loaded.
        drain(station, images, 2 * threads, timeout=180, group_size=group_size)
        for _ in range(rounds):
            cpu_before = process_cpu_seconds(worker.pid)
            seconds = drain(station, images, count, timeout=900, group_size=group_size)
            drained = Measured(count / seconds, (process_cpu_seconds(worker.pid) - cpu_before) * 1000 / count)
            rates.append((drained, after_each() if after_each else None))
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=400, help="inspections per measured worker run")
    parser.add_argument("--batch-size", type=int, default=32, help="the batched worker's KENSA_BATCH_SIZE")
    parser.add_argument("--threads", type=int, default=64, help="the batched worker's threads")
    parser.add_argument(
        "--group-size", type=int, default=32, help="inspections per task message for (c), as KENSA_TASK_GROUP_SIZE"
    )
    parser.add_argument("--rounds", type=int, default=3, help="drains of (c), each paired with a bare run")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="kensa-bench-inference-"))
    from bench.support import django_on_own_database, recreate_database

    env = django_on_own_database(postgres=args.postgres, database=DATABASE, redis_url=args.redis_url, workdir=workdir)
    from django.core.management import call_command

    from inspection.inference import engine
    from lines.models import ProductionLine
    from lines.services import station_create

    try:
        subprocess.run([str(BIN / "python"), "manage.py", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
        line = ProductionLine.objects.create(code="bench", name="Bench line", queue_limit=10**9, deadline_seconds=3600)
        call_command("build_demo_model", task="classification", line="bench", artifacts=ARTIFACTS, stdout=io.StringIO())
        line.refresh_from_db()
        station, _ = station_create(line=line, code="cam-1")
        spec = line.inspection_model
        assert spec is not None, "build_demo_model put no model on the bench line"
        images = camera_jpegs(16)
        print(f"Model {spec} ({spec.architecture}, {spec.input_size} px); {len(images)} JPEGs of 1280 x 1024")
        print(f"Inference on {device_name()}")

        _, best_batch = bare(spec, images, args.images)
        bare_work = "forward pass alone" if engine.inference_device().type == "cuda" else "preprocess + forward"

        def bare_again() -> Measured:
            return bare_measured(spec, images, args.images, best_batch)

        log = workdir / "workers.log"
        [(single, bare_b)] = worker_rates(
            env, station, images, args.images, batch_size=1, threads=1, group_size=1, log=log, after_each=bare_again
        )
        assert bare_b is not None
        print(f"  single worker path: {single.rate:7.1f} img/s (bare, right after: {bare_b.rate:.1f})")
        batched = {"batch_size": args.batch_size, "threads": args.threads, "log": log}
        rounds = worker_rates(
            env,
            station,
            images,
            args.images,
            group_size=args.group_size,
            rounds=args.rounds,
            after_each=bare_again,
            **batched,
        )
        for n, (drained, bare_after) in enumerate(rounds, 1):
            assert bare_after is not None
            print(
                f"  batched worker path (batch {args.batch_size}, {args.threads} threads, {args.group_size} per "
                f"message), round {n}: {drained.rate:7.1f} img/s, {drained.cpu_ms:.2f} ms of CPU an image "
                f"(bare, right after: {bare_after.rate:.1f} img/s, {bare_after.cpu_ms:.2f} ms)"
            )
        # The same worker with one message per image, for what grouping messages is worth.
        [(one_each, _)] = worker_rates(env, station, images, args.images, group_size=1, **batched)
        print(f"  batched worker path, one image per message: {one_each.rate:7.1f} img/s")
    finally:
        from django.db import connections

        connections.close_all()
        recreate_database(f"{args.postgres}/postgres", DATABASE, drop_only=True)
        shutil.rmtree(workdir, ignore_errors=True)

    # These machines' speed drifts by a quarter within minutes, so each worker figure is taken
    # against the bare rate measured right after it, and the rounds' middle ratio is reported.
    paired = [(c, a) for c, a in rounds if a is not None]
    rate_c, rate_a = statistics.median(c.rate for c, _ in paired), statistics.median(a.rate for _, a in paired)
    c_over_a = statistics.median(c.rate / a.rate for c, a in paired)
    c_over_b = c_over_a / (single.rate / bare_b.rate)
    cpu_c, cpu_a = statistics.median(c.cpu_ms for c, _ in paired), statistics.median(a.cpu_ms for _, a in paired)
    print()
    print("| path | images/s |")
    print("| --- | --- |")
    print(f"| (a) bare: {bare_work}, batch {best_batch}, median of {len(rounds)} | {rate_a:.1f} |")
    print(f"| (b) worker, one image per task | {single.rate:.1f} |")
    print(f"| (c) worker, batched, end to end, {args.group_size} images per message, median | {rate_c:.1f} |")
    print(f"| (c) with one image per message | {one_each.rate:.1f} |")
    print(f"CPU per image, medians of the rounds: (c) worker {cpu_c:.2f} ms, (a) bare {cpu_a:.2f} ms")
    rates = f"bare={rate_a:.1f} single={single.rate:.1f} batched={rate_c:.1f}"
    print(f"RESULT {rates} c/a={c_over_a:.2f} c/b={c_over_b:.2f}")


if __name__ == "__main__":
    main()

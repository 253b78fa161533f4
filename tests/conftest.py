from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from inspection.events import subscribe_finished, unsubscribe_finished
from tests.users import make_role_groups


@pytest.fixture(scope="session", autouse=True)
def _clean_test_redis() -> Iterator[None]:
    """Start from empty queues. Only a Redis database other than 0 is flushed, so a demo
    running on the default database is never touched (the README's test command uses /9)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    if client.connection_pool.connection_kwargs.get("db", 0) != 0:
        client.flushdb()
    yield


@pytest.fixture
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def stored_files() -> set[Path]:
    root = Path(settings.KENSA_DATA_DIR) / "storage" / "images"
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


@pytest.fixture
def finished_events() -> Iterator[list]:
    """Every inspection payload announced by the "finished" event while the test runs."""
    announced: list = []
    subscribe_finished(announced.extend)
    yield announced
    unsubscribe_finished(announced.extend)


@pytest.fixture
def roles() -> None:
    """The role groups as the data migrations make them (tests.users.make_role_groups): a
    transactional test elsewhere in the run may have emptied the tables since the test database
    was migrated (and this re-run is what makes the migration idempotent worth having)."""
    make_role_groups()

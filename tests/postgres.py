"""PostgreSQL beside the test database."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


@contextmanager
def transaction_in_another_database() -> Iterator[None]:
    """A transaction of another database on the same server that takes an id and stays open
    (a report, a backup, another application), for as long as the block runs."""
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        dbname="postgres",
    )
    try:
        other.execute("SELECT pg_current_xact_id()")
        yield
    finally:
        other.close()

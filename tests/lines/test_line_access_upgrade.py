"""Upgrading to line access keeps what each existing user saw (lines/migrations/0004)."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from lines.models import LineAccess
from lines.selectors import visible_line_ids_for_user
from tests.factories import make_line
from tests.users import make_user

pytestmark = pytest.mark.django_db


def test_existing_users_keep_every_line_and_limited_ones_stay_limited():
    line = make_line()
    old = make_user("old-operator", lines=None)  # made before line access existed
    limited = make_user("limited", lines=[line])
    root = make_user("root", superuser=True)
    assert visible_line_ids_for_user(old) == frozenset()

    migration = importlib.import_module("lines.migrations.0004_existing_users_keep_every_line")
    state = MigrationExecutor(connection).loader.project_state(("lines", "0004_existing_users_keep_every_line"))
    migration.keep_every_line(state.apps, None)

    assert LineAccess.objects.get(user=old).all_lines
    assert list(LineAccess.objects.get(user=limited).lines.all()) == [line]
    assert not LineAccess.objects.get(user=limited).all_lines
    assert not LineAccess.objects.filter(user=root).exists()  # superusers see every line anyway
    assert visible_line_ids_for_user(type(old).objects.get(id=old.id)) is None

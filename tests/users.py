"""Plant users for permission tests: who is signed in, and with which rights."""

import importlib
from collections.abc import Sequence
from typing import Any, Literal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from lines.models import LineAccess, ProductionLine

EVERY_LINE: Literal["all"] = "all"


def make_user(
    username: str,
    *,
    staff: bool = False,
    superuser: bool = False,
    perms: tuple[str, ...] = (),
    lines: Sequence[ProductionLine] | Literal["all"] | None = EVERY_LINE,
) -> User:
    """A user with exactly these permissions (`app_label.codename`), or every `view_*` one for `("view_*",)`.

    `lines` are the lines the user sees: every line by default, as tests of other things than
    line limits want; None for no line access record at all (the user sees no line)."""
    model = get_user_model()
    if superuser:
        return model.objects.create_superuser(username, password="x")
    user = model.objects.create_user(username, password="x", is_staff=staff)
    if lines == EVERY_LINE:
        LineAccess.objects.create(user=user, all_lines=True)
    elif lines is not None:
        LineAccess.objects.create(user=user).lines.set(lines)
    if perms == ("view_*",):
        user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    else:
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def viewer(username: str = "viewer") -> User:
    """Staff who may look at everything in the admin and change nothing."""
    return make_user(username, staff=True, perms=("view_*",))


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# The last migration that shapes the role groups: the state their functions run against.
ROLE_MIGRATION = ("results", "0008_plant_admins_unlock_sign_ins")


def role_migration() -> Any:
    return importlib.import_module("results.migrations.0007_role_groups")


def make_role_groups() -> None:
    """What the two data migrations do: the groups (0007), then the plant admins' unlocking of
    sign-ins (0008)."""
    apps = migration_apps()
    role_migration().create_groups(apps, None)
    importlib.import_module("results.migrations.0008_plant_admins_unlock_sign_ins").grant(apps, None)


def migration_apps() -> Any:
    return MigrationExecutor(connection).loader.project_state(ROLE_MIGRATION).apps

"""Guessing passwords (django-axes, config/settings.py): a user name that fails
KENSA_SIGNIN_FAILURE_LIMIT times from one address is refused from there, 429 with Retry-After,
at Kensa's sign-in page and the admin's; other addresses and other users are not; a plant admin
unlocks it in the admin."""

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.test import Client

from tests.users import make_user

pytestmark = pytest.mark.django_db

LIMIT = 5  # KENSA_SIGNIN_FAILURE_LIMIT's default
LOCKOUT_SECONDS = 15 * 60


@pytest.fixture(autouse=True)
def _role_groups(roles) -> None:
    """Every test here needs the role groups (tests/conftest.py)."""


def from_address(address: str, **headers: Any) -> Client:
    return Client(REMOTE_ADDR=address, **headers)


def sign_in(client: Client, username: str, password: str, path: str = "/login/"):
    return client.post(path, {"username": username, "password": password})


def test_a_user_name_that_fails_too_often_is_locked_out_from_that_address_only():
    make_user("op-1")
    make_user("op-2")
    terminal = from_address("10.0.0.1")
    for _ in range(LIMIT - 1):
        assert sign_in(terminal, "op-1", "wrong").status_code == 200  # the form again, with its error
    locked = sign_in(terminal, "op-1", "wrong")
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(LOCKOUT_SECONDS)
    assert b'data-code="signin_locked"' in locked.content and b"try again in 15 minutes" in locked.content
    # Now even the right password is refused from there...
    assert sign_in(terminal, "op-1", "x").status_code == 429
    # ...but not from another terminal, nor for another operator at this one.
    assert sign_in(from_address("10.0.0.2"), "op-1", "x").status_code == 302
    assert sign_in(terminal, "op-2", "x").status_code == 302


def test_a_forwarded_for_header_does_not_make_a_new_address():
    make_user("op-3")
    for n in range(LIMIT):
        sign_in(from_address("10.0.0.3", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}"), "op-3", "wrong")
    assert sign_in(from_address("10.0.0.3", HTTP_X_FORWARDED_FOR="192.0.2.99"), "op-3", "x").status_code == 429


def test_a_success_clears_the_count():
    make_user("op-4")
    terminal = from_address("10.0.0.4")
    for _ in range(LIMIT - 1):
        sign_in(terminal, "op-4", "wrong")
    assert sign_in(terminal, "op-4", "x").status_code == 302
    terminal = from_address("10.0.0.4")
    for _ in range(LIMIT - 1):
        sign_in(terminal, "op-4", "wrong")
    assert sign_in(terminal, "op-4", "x").status_code == 302


def test_the_admins_sign_in_is_counted_too_and_a_plant_admin_unlocks():
    make_user("lead", staff=True)
    desk = from_address("10.0.0.5")
    for _ in range(LIMIT):
        sign_in(desk, "lead", "wrong", path="/admin/login/")
    assert sign_in(desk, "lead", "x", path="/admin/login/").status_code == 429
    attempt = AccessAttempt.objects.get(username="lead", ip_address="10.0.0.5")

    # An operator or QA reviewer cannot unlock; a plant admin can.
    qa = make_user("qa-lead", staff=True)
    qa.groups.add(Group.objects.get(name="QA reviewer"))
    plant_admin = make_user("plant-admin", staff=True, lines=None)
    plant_admin.groups.add(Group.objects.get(name="Plant admin"))
    delete_page = f"/admin/axes/accessattempt/{attempt.pk}/delete/"
    refused = Client()
    refused.force_login(qa)
    assert refused.post(delete_page, {"post": "yes"}).status_code == 403
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()
    unlocking = Client()
    unlocking.force_login(plant_admin)
    assert unlocking.get("/admin/axes/accessattempt/").status_code == 200
    assert unlocking.post(delete_page, {"post": "yes"}).status_code == 302
    assert sign_in(desk, "lead", "x", path="/admin/login/").status_code == 302

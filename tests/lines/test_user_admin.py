"""Users and groups in the admin give no way up (lines/accounts_admin.py): a plant admin cannot
make a superuser, touch a superuser's account, or grant a permission or group beyond their own;
what an account holds beyond them is kept when they save it. A superuser still can all of it."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from tests.users import make_user

pytestmark = pytest.mark.django_db


def perm(label: str) -> Permission:
    app_label, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.fixture(autouse=True)
def _role_groups(roles) -> None:
    """Every test here needs the role groups (tests/conftest.py)."""


def plant_admin() -> User:
    user = make_user("plant-admin", staff=True, lines=None)
    user.groups.add(Group.objects.get(name="Plant admin"))
    return user


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_user(client: Client, target: User, **fields: object):
    """POST the target's admin page as the form would, with these fields changed."""
    data: dict[str, object] = {
        "username": target.username,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "groups": [str(pk) for pk in target.groups.values_list("pk", flat=True)],
        "user_permissions": [str(pk) for pk in target.user_permissions.values_list("pk", flat=True)],
        "line_access-TOTAL_FORMS": "0",
        "line_access-INITIAL_FORMS": "0",
        "line_access-MIN_NUM_FORMS": "0",
        "line_access-MAX_NUM_FORMS": "1",
    }
    data.update(fields)
    return client.post(f"/admin/auth/user/{target.pk}/change/", data)


def test_a_plant_admin_cannot_make_a_superuser_not_even_of_themselves():
    admin = plant_admin()
    client = signed_in(admin)
    for target in (admin, make_user("operator", lines=None)):
        response = change_user(client, target, is_staff="on", is_superuser="on")
        assert response.status_code == 302, response.content[:500]
        target.refresh_from_db()
        assert not target.is_superuser
    page = client.get(f"/admin/auth/user/{admin.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in page  # shown as read-only text, not a box to tick


def test_a_plant_admin_cannot_change_or_delete_a_superuser():
    root = User.objects.create_superuser("root", password="x")
    client = signed_in(plant_admin())
    assert client.get(f"/admin/auth/user/{root.pk}/change/").status_code == 200  # may look
    assert change_user(client, root, is_superuser="").status_code == 403
    assert client.post(f"/admin/auth/user/{root.pk}/delete/", {"post": "yes"}).status_code == 403
    root.refresh_from_db()
    assert root.is_superuser and root.is_active


def test_a_plant_admin_grants_only_permissions_and_groups_they_hold():
    admin = plant_admin()
    client = signed_in(admin)
    operator = make_user("operator", lines=None)
    beyond = perm("sessions.delete_session")  # not a plant admin's
    within = perm("lines.view_station")
    refused = change_user(client, operator, user_permissions=[str(beyond.pk)])
    assert refused.status_code == 200 and b"Select a valid choice" in refused.content
    assert not operator.user_permissions.exists()
    mighty = Group.objects.create(name="Everything")
    mighty.permissions.add(beyond)
    refused = change_user(client, operator, groups=[str(mighty.pk)])
    assert refused.status_code == 200 and b"Select a valid choice" in refused.content
    assert not operator.groups.exists()
    qa = Group.objects.get(name="QA reviewer")  # all of its permissions are a plant admin's
    assert change_user(client, operator, user_permissions=[str(within.pk)], groups=[str(qa.pk)]).status_code == 302
    assert list(operator.user_permissions.all()) == [within]
    assert list(operator.groups.all()) == [qa]


def test_what_an_account_holds_beyond_the_editor_is_kept_when_they_save_it():
    admin = plant_admin()
    client = signed_in(admin)
    beyond, within = perm("sessions.delete_session"), perm("lines.view_station")
    mighty = Group.objects.create(name="Everything")
    mighty.permissions.add(beyond)
    lead = make_user("lead", lines=None)
    lead.user_permissions.add(beyond)
    lead.groups.add(mighty)
    # The form shows neither; saving it with another permission keeps both.
    response = change_user(client, lead, user_permissions=[str(within.pk)], groups=[])
    assert response.status_code == 302, response.content[:500]
    assert set(lead.user_permissions.all()) == {beyond, within}
    assert list(lead.groups.all()) == [mighty]
    # Groups: the same on a group's page.
    response = client.post(
        f"/admin/auth/group/{mighty.pk}/change/", {"name": "Everything", "permissions": [str(within.pk)]}
    )
    assert response.status_code == 302, response.content[:500]
    assert set(mighty.permissions.all()) == {beyond, within}
    response = client.post("/admin/auth/group/add/", {"name": "Sneaky", "permissions": [str(beyond.pk)]})
    assert response.status_code == 200 and not Group.objects.filter(name="Sneaky").exists()


def test_a_superuser_still_grants_anything():
    client = signed_in(User.objects.create_superuser("root", password="x"))
    operator = make_user("operator", lines=None)
    beyond = perm("sessions.delete_session")
    response = change_user(client, operator, is_staff="on", is_superuser="on", user_permissions=[str(beyond.pk)])
    assert response.status_code == 302, response.content[:500]
    operator.refresh_from_db()
    assert operator.is_superuser and list(operator.user_permissions.all()) == [beyond]

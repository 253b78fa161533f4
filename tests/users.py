"""Plant users for permission tests: who is signed in, and with which rights."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission, User
from django.test import Client


def make_user(username: str, *, staff: bool = False, superuser: bool = False, perms: tuple[str, ...] = ()) -> User:
    """A user with exactly these permissions (`app_label.codename`), or every `view_*` one for `("view_*",)`."""
    model = get_user_model()
    if superuser:
        return model.objects.create_superuser(username, password="x")
    user = model.objects.create_user(username, password="x", is_staff=staff)
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

"""An open dashboard feed follows its viewer's access: when what a user may see changes, the
user's feeds check again and close if their line is no longer theirs (results/consumers.py).

Without this a feed opened before an operator was moved off a line, deactivated or signed out
went on streaming that line's results for as long as the browser stayed open. Every change that
can narrow the answer of lines.selectors.visible_line_ids_for_user, or who the session belongs
to, is told to the users it concerns once its transaction commits (the feed reads it then).
"""

from typing import Any

from django.contrib.auth import get_user_model, user_logged_out
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from lines.models import LineAccess
from results.live import publish_access_changed

CHANGING_ACTIONS = frozenset({"post_add", "post_remove", "post_clear"})


def tell_after_commit(user_ids: list[int]) -> None:
    if user_ids:
        transaction.on_commit(lambda: publish_access_changed(user_ids))


def on_line_access_saved_or_deleted(instance: LineAccess, **_signal: Any) -> None:
    tell_after_commit([instance.user_id])


def on_line_access_lines_changed(instance: LineAccess, action: str, **_signal: Any) -> None:
    if action in CHANGING_ACTIONS:
        tell_after_commit([instance.user_id])


def on_user_saved(instance: Any, update_fields: Any = None, **_signal: Any) -> None:
    """Deactivation, loss of superuser; not the last_login that every sign-in writes."""
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    tell_after_commit([instance.pk])


def on_user_deleted(instance: Any, **_signal: Any) -> None:
    tell_after_commit([instance.pk])


def on_user_groups_or_permissions_changed(
    instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **_signal: Any
) -> None:
    """`user.groups.add(group)` (forward: this user), or `group.user_set.add(user)` (reverse:
    the users in pk_set; all of the group's users on a clear)."""
    if action not in CHANGING_ACTIONS:
        return
    if not reverse:
        tell_after_commit([instance.pk])
    elif pk_set:
        tell_after_commit(sorted(pk_set))
    else:
        tell_after_commit(list(instance.user_set.values_list("pk", flat=True)))


def on_group_permissions_changed(
    instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **_signal: Any
) -> None:
    """A group gained or lost a permission (`lines.see_every_line`, say): its members' feeds."""
    if action not in CHANGING_ACTIONS:
        return
    groups = Group.objects.filter(pk__in=pk_set or ()) if reverse else Group.objects.filter(pk=instance.pk)
    user_ids = get_user_model().objects.filter(groups__in=groups).values_list("pk", flat=True).distinct()
    tell_after_commit(list(user_ids))


def on_logged_out(request: Any, user: Any, **_signal: Any) -> None:
    """Django sends this before it flushes the session, so the feeds of the session ending are
    told which it is rather than left to find out."""
    if user is None or user.pk is None:
        return
    session = getattr(request, "session", None)
    ended = session.session_key if session is not None else None
    user_ids = [user.pk]
    transaction.on_commit(lambda: publish_access_changed(user_ids, ended_session=ended))


def connect() -> None:
    """Called once from ResultsConfig.ready."""
    user_model = get_user_model()
    uid = "kensa.live_access"
    post_save.connect(on_line_access_saved_or_deleted, sender=LineAccess, dispatch_uid=f"{uid}.access_saved")
    post_delete.connect(on_line_access_saved_or_deleted, sender=LineAccess, dispatch_uid=f"{uid}.access_deleted")
    m2m_changed.connect(on_line_access_lines_changed, sender=LineAccess.lines.through, dispatch_uid=f"{uid}.lines")
    post_save.connect(on_user_saved, sender=user_model, dispatch_uid=f"{uid}.user_saved")
    post_delete.connect(on_user_deleted, sender=user_model, dispatch_uid=f"{uid}.user_deleted")
    for through in (user_model.groups.through, user_model.user_permissions.through):
        m2m_changed.connect(on_user_groups_or_permissions_changed, sender=through, dispatch_uid=f"{uid}.{through}")
    m2m_changed.connect(on_group_permissions_changed, sender=Group.permissions.through, dispatch_uid=f"{uid}.group")
    user_logged_out.connect(on_logged_out, dispatch_uid=f"{uid}.logged_out")

"""Users and groups in the admin, without a way up: whoever is not a superuser (a plant admin)
manages accounts with at most the rights they hold themselves.

Django's own user and group pages let anyone with `auth.change_user` tick "superuser status",
or give a user or a group any permission, their own account included. Here, for a
non-superuser: superuser status is read-only and superusers' accounts cannot be changed or
deleted; the permissions offered are those the editor holds, and the groups offered those whose
permissions the editor holds; what an account already has beyond that is kept, not dropped by
the form that could not show it.
"""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission, User
from django.db.models import Model, Q, QuerySet
from django.forms import Form
from django.http import HttpRequest

from lines.models import LineAccess


def grantable_permissions(user: Any) -> QuerySet[Permission]:
    """Every permission for a superuser; else those the user holds, directly or by a group."""
    if user.is_superuser:
        return Permission.objects.all()
    return Permission.objects.filter(Q(user=user) | Q(group__user=user)).distinct()


def grantable_groups(user: Any) -> QuerySet[Group]:
    """Every group for a superuser; else the groups with no permission the user lacks."""
    if user.is_superuser:
        return Group.objects.all()
    beyond = Permission.objects.exclude(pk__in=grantable_permissions(user).values("pk"))
    return Group.objects.exclude(permissions__in=beyond)


class GrantsNoMoreThanHeldMixin:
    """The many-to-many fields of permissions and groups offer what the editor may grant, and
    keep what the object held beyond that (the form never showed it, so it would drop it)."""

    limited_fields: dict[str, Any]  # field name -> function(editor) giving what may be granted

    def formfield_for_manytomany(self, db_field: Any, request: Any = None, **kwargs: Any) -> Any:
        grantable = self.limited_fields.get(db_field.name)
        if grantable is not None and request is not None:
            kwargs["queryset"] = grantable(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]

    def save_related(self, request: HttpRequest, form: Form, formsets: Any, change: bool) -> None:
        instance: Model = form.instance  # type: ignore[attr-defined]
        kept: dict[str, list[Model]] = {}
        if change and not request.user.is_superuser:
            for name, grantable in self.limited_fields.items():
                shown = grantable(request.user).values("pk")
                kept[name] = list(getattr(instance, name).exclude(pk__in=shown))
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        for name, rows in kept.items():
            getattr(instance, name).add(*rows)


class LineAccessInline(admin.StackedInline[LineAccess, Any]):
    """On the user's page: which lines the user sees (none without a record)."""

    model = LineAccess
    can_delete = True
    filter_horizontal = ["lines"]
    verbose_name_plural = "line access (none: the user sees no line, unless a superuser or a plant admin)"


class KensaUserAdmin(GrantsNoMoreThanHeldMixin, UserAdmin):
    """The user's admin with the lines the user sees, and no way to a superuser."""

    inlines = [*UserAdmin.inlines, LineAccessInline]
    limited_fields = {"user_permissions": grantable_permissions, "groups": grantable_groups}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else (*fields, "is_superuser")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and not self._is_above(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and not self._is_above(request, obj)

    @staticmethod
    def _is_above(request: HttpRequest, obj: Any) -> bool:
        return obj is not None and obj.is_superuser and not request.user.is_superuser


class KensaGroupAdmin(GrantsNoMoreThanHeldMixin, GroupAdmin):
    limited_fields = {"permissions": grantable_permissions}


admin.site.unregister(User)
admin.site.register(User, KensaUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, KensaGroupAdmin)

"""Plant admins see failed and locked sign-ins (django-axes) and unlock them by deleting the
attempt; nobody else does. Reversing takes the permissions away again."""

from django.db import migrations

SIGN_IN_PERMISSIONS = [
    ("axes", "view_accessattempt"),
    ("axes", "delete_accessattempt"),
    ("axes", "view_accesslog"),
]


def sign_in_permissions(apps):
    from django.contrib.auth.management import create_permissions

    axes = apps.get_app_config("axes")
    axes.models_module = True
    create_permissions(axes, apps=apps, verbosity=0)  # made after migrations, as in 0007
    axes.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in SIGN_IN_PERMISSIONS
    ]


def grant(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="Plant admin").first()
    if group is not None:
        group.permissions.add(*sign_in_permissions(apps))


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="Plant admin").first()
    if group is not None:
        group.permissions.remove(*sign_in_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("results", "0007_role_groups"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(grant, revoke)]

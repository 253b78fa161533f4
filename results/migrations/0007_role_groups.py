"""The four roles of a plant as groups, each with the permissions it needs and no more.

A user also needs a line access record (lines.LineAccess) to see any line, except plant admins
(`lines.see_every_line`) and superusers; and "Staff status" to open the admin, which operators
do not need (their dashboards are outside it). Re-running sets each group's permissions to
exactly these; reversing deletes the groups.
"""

from django.db import migrations

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"


def model_permissions(app_label: str, model: str, *actions: str) -> list[tuple[str, str]]:
    return [(app_label, f"{action}_{model}") for action in actions]


EVERYTHING = (VIEW, ADD, CHANGE, DELETE)

ROLES: dict[str, list[tuple[str, str]]] = {
    # Dashboards and live feeds of their lines: no permission is needed beyond a line access
    # record, and operators are not staff.
    "Operator": [],
    # The review in the admin and the exports (CSV and data set), on their lines.
    "QA reviewer": [
        *model_permissions("inspection", "inspection", VIEW),
        *model_permissions("inspection", "defect", VIEW),
        *model_permissions("results", "defectreview", VIEW),
        *model_permissions("results", "partdisposition", VIEW),
        ("results", "review_inspection"),
        ("results", "export_inspections"),
    ],
    # Their lines' settings and stations, and which model version serves their lines.
    "Line supervisor": [
        *model_permissions("lines", "productionline", VIEW, CHANGE),
        *model_permissions("lines", "station", VIEW, ADD, CHANGE),
        *model_permissions("inspection", "inspectionmodel", VIEW),
        ("inspection", "promote_inspectionmodel"),
        *model_permissions("inspection", "modelevent", VIEW),
        *model_permissions("inspection", "inspection", VIEW),
        *model_permissions("inspection", "defect", VIEW),
    ],
    # Everything in Kensa's apps and the plant's users, on every line (not a superuser: no
    # sessions, content types or admin log by hand).
    "Plant admin": [
        ("lines", "see_every_line"),
        *model_permissions("lines", "productionline", *EVERYTHING),
        *model_permissions("lines", "station", *EVERYTHING),
        *model_permissions("lines", "lineaccess", *EVERYTHING),
        *model_permissions("inspection", "inspectionmodel", *EVERYTHING),
        ("inspection", "promote_inspectionmodel"),
        *model_permissions("inspection", "modelevent", *EVERYTHING),
        *model_permissions("inspection", "inspection", *EVERYTHING),
        *model_permissions("inspection", "defect", *EVERYTHING),
        *model_permissions("inspection", "resumableupload", *EVERYTHING),
        *model_permissions("results", "apiclient", *EVERYTHING),
        *model_permissions("results", "acknowledgement", *EVERYTHING),
        *model_permissions("results", "defectreview", *EVERYTHING),
        *model_permissions("results", "partdisposition", *EVERYTHING),
        ("results", "review_inspection"),
        ("results", "export_inspections"),
        *model_permissions("results", "mqttcursor", *EVERYTHING),
        *model_permissions("results", "webhooksubscription", *EVERYTHING),
        *model_permissions("results", "webhookdelivery", *EVERYTHING),
        *model_permissions("results", "webhookattempt", *EVERYTHING),
        ("results", "send_webhookdelivery"),
        *model_permissions("auth", "user", *EVERYTHING),
        *model_permissions("auth", "group", *EVERYTHING),
    ],
}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are made after all migrations of a run (post_migrate); a fresh database has
    # none yet, so make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLES.items():
        permissions = [
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in wanted
        ]
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("lines", "0003_line_access"),
        ("inspection", "0006_promote_permission"),
        ("results", "0006_webhooks"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]

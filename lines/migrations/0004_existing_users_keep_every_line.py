"""Users who exist when line access arrives keep seeing every line, as they did before: an
upgrade must not blank the dashboards of a running plant. Users made afterwards see no line
until given line access (lines.models.LineAccess); plant admins then narrow the old accounts."""

from django.conf import settings
from django.db import migrations


def keep_every_line(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    LineAccess = apps.get_model("lines", "LineAccess")
    without = User.objects.filter(is_superuser=False).exclude(
        id__in=LineAccess.objects.values_list("user_id", flat=True)
    )
    LineAccess.objects.bulk_create(
        [LineAccess(user_id=user_id, all_lines=True) for user_id in without.values_list("id", flat=True)]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("lines", "0003_line_access"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # Backwards there is nothing to undo: reversing 0003 drops the table.
    operations = [migrations.RunPython(keep_every_line, migrations.RunPython.noop)]

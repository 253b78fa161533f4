from django.db import migrations


class Migration(migrations.Migration):
    """The Defect model now belongs to inspection (inspection/migrations/0004_defect.py); its
    table is untouched."""

    dependencies = [
        ("results", "0001_initial"),
        ("inspection", "0004_defect"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Defect")], database_operations=[]),
    ]

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Defects move from the results app to inspection: the worker writes them with the verdict,
    and inspection never imports results. The table stays where it is; only Django's state moves."""

    dependencies = [
        ("inspection", "0003_detection_task"),
        ("results", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Defect",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("label", models.CharField(max_length=100)),
                        ("confidence", models.FloatField()),
                        ("box", models.JSONField(blank=True, null=True)),
                        ("area", models.PositiveBigIntegerField(blank=True, null=True)),
                        (
                            "inspection",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="defects",
                                to="inspection.inspection",
                            ),
                        ),
                    ],
                    options={"db_table": "results_defect", "ordering": ["inspection", "-confidence", "id"]},
                ),
            ],
            database_operations=[],
        ),
    ]

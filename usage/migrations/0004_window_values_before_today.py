"""The window values now hold each window's days before their day (today's row is read
next to them by the rules): values built by an earlier version included that day, so
they are marked never built. Until the day-change job rebuilds them, the rules aggregate
the daily table (right, only slower)."""

import django.db.models.deletion
from django.db import migrations, models


def forget_window_values(apps, schema_editor) -> None:
    apps.get_model("usage", "UsageFeatureState").objects.update(as_of=None)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0013_drop_external_id_like_index"),
        ("usage", "0003_features"),
    ]

    operations = [
        migrations.AlterField(
            model_name="dailyusage",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="usage_daily",
                to="customers.account",
            ),
        ),
        migrations.RunPython(forget_window_values, migrations.RunPython.noop),
    ]

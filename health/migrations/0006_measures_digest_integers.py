"""AccountHealth.measures_digest becomes the measure scores as integers (an integer array
on PostgreSQL), cheaper to build and compare than the text it was. The column is
re-created empty: the next run compares every account's JSON once and fills it in
(docs/health.md)."""

from django.db import migrations

import cs_platform.db.fields


class Migration(migrations.Migration):
    dependencies = [("health", "0005_scorecard_versions")]

    operations = [
        migrations.RemoveField(model_name="accounthealth", name="measures_digest"),
        migrations.AddField(
            model_name="accounthealth",
            name="measures_digest",
            field=cs_platform.db.fields.IntegerListField(blank=True, editable=False, null=True),
        ),
    ]

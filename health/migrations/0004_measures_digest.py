"""AccountHealth.measures_digest: the measure scores as a text that is cheap to compare
(filled in by the next run; null rows are compared by their JSON once)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("health", "0003_recompute_schedule")]

    operations = [
        migrations.AddField(
            model_name="accounthealth",
            name="measures_digest",
            field=models.TextField(blank=True, editable=False, null=True),
        ),
    ]

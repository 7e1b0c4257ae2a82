"""Beat schedule (editable in the admin under Periodic tasks): recompute every account's
health every HEALTH_RECOMPUTE_EVERY_MINUTES minutes (default 60)."""

from django.conf import settings
from django.db import migrations

RECOMPUTE = "Health: recompute every account's score"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    minutes = int(getattr(settings, "HEALTH_RECOMPUTE_EVERY_MINUTES", 60))
    every, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=RECOMPUTE,
        defaults={"task": "health.recompute", "interval": every, "crontab": None},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=RECOMPUTE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("health", "0002_typed_in_scores"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]

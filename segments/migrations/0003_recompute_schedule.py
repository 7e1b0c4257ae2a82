"""Beat schedule (editable in the admin under Periodic tasks): recompute every active
segment every SEGMENT_RECOMPUTE_EVERY_MINUTES minutes (default 15)."""

from django.conf import settings
from django.db import migrations

RECOMPUTE_ALL = "Segments: recompute all active segments"
EVALUATE_CHANGED = "Segments: evaluate changed accounts (safety net)"


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    minutes = int(getattr(settings, "SEGMENT_RECOMPUTE_EVERY_MINUTES", 15))
    every, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=RECOMPUTE_ALL,
        defaults={"task": "segments.recompute_all", "interval": every, "crontab": None},
    )
    # The accounts_changed receiver enqueues the sweep; this catches flags whose signal was
    # lost (a process that died between commit and enqueue).
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=EVALUATE_CHANGED,
        defaults={"task": "segments.evaluate_changed", "interval": every_minute, "crontab": None},
    )


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[RECOMPUTE_ALL, EVALUATE_CHANGED]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0002_event_member_history_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedules, remove_schedules)]

"""Beat schedules (editable in the admin under Periodic tasks): the daily renewal queue
rebuild and the playbook sweep (stable_days, missed signals, pending runs)."""

from django.db import migrations

REBUILD = "Renewal queue: daily rebuild"
SWEEP = "Playbooks: process membership events"


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    every_5_min, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=REBUILD,
        defaults={"task": "playbooks.renewal_queue_rebuild", "crontab": daily, "interval": None},
    )
    PeriodicTask.objects.update_or_create(
        name=SWEEP,
        defaults={"task": "playbooks.process_events", "interval": every_5_min, "crontab": None},
    )


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[REBUILD, SWEEP]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("playbooks", "0002_default_windows"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedules, remove_schedules)]

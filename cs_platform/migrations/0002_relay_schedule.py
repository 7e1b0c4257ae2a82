"""The outbox relay's beat schedule: every 5 seconds (editable in the admin under Periodic
tasks). The ``manage.py outbox_relay`` loop does the same every second; either suffices,
both together are harmless (a row is sent once per pass, whoever takes it)."""

from django.db import migrations

RELAY = "Outbox: relay (send due, lost and dead workers' work)"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=RELAY,
        defaults={"task": "cs_platform.outbox_relay", "interval": every, "crontab": None},
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=RELAY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cs_platform", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]

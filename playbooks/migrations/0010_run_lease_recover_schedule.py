"""A playbook run's lease (``lease_until``) and the schedule that executes again the runs
whose lease lapsed (``playbooks.runs_recover``, every minute; editable in the admin)."""

from django.db import migrations, models

RECOVER = "Playbooks: recover runs whose worker died"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=RECOVER,
        defaults={"task": "playbooks.runs_recover", "interval": every_minute, "crontab": None},
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=RECOVER).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("playbooks", "0009_active_contract_end_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="playbookrun",
            name="lease_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]

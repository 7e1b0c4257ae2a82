"""Beat schedule (editable in the admin under Periodic tasks): keep the analytics page's
figures in the shared cache, every 5 minutes."""

from django.db import migrations

ANALYTICS_WARM = "Analytics: keep the page's figures cached"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5_min, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=ANALYTICS_WARM,
        defaults={"task": "segments.analytics_warm", "interval": every_5_min, "crontab": None},
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=ANALYTICS_WARM).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0004_drop_redundant_fk_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]

"""Beat schedule: just after midnight in the configured time zone, recompute the segments
whose rules depend on "today" (usage windows, relative dates), so they slide with the
calendar even when no data arrives."""

from django.conf import settings
from django.db import migrations

DAY_CHANGE = "Segments: recompute date-dependent segments after the day changes"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    after_midnight, _ = CrontabSchedule.objects.get_or_create(
        minute="1",
        hour="0",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.update_or_create(
        name=DAY_CHANGE,
        defaults={
            "task": "segments.recompute_date_dependent",
            "crontab": after_midnight,
            "interval": None,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=DAY_CHANGE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0008_membership_account_segment_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]

"""Beat schedule (editable in the admin under Periodic tasks): the daily segment review
reminders (a task for the owner of each segment whose review is overdue)."""

from django.db import migrations

REVIEWS = "Segments: review reminders"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.update_or_create(
        name=REVIEWS,
        defaults={"task": "playbooks.segment_review_reminders", "crontab": daily, "interval": None},
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=REVIEWS).delete()


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0005_change_tracking_indexes")]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]

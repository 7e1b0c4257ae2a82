"""Existing data under the one-open-task-per-renewal contract (DESIGN 4):

- the default churn reasons managers then edit;
- a contract with several open (or snoozed) renewal tasks keeps the task of its tightest
  window; the wider ones are cancelled with a note in their history, as the build now
  does when a contract moves into a tighter window;
- overdue queue entries (derived data) are dropped and the next build made a full diff,
  so that every overdue renewal gets its "overdue renewal" task on both databases.
"""

from django.db import migrations
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

DEFAULT_CHURN_REASONS = (
    "Budget cut",
    "Switched to a competitor",
    "Product did not fit",
    "Low adoption",
    "Company closed or acquired",
    "Champion left",
    "Other",
)
OPEN = ("open", "snoozed")
NOTE = "Closed: this renewal has a task for a tighter window."


def churn_reasons(apps, schema_editor):
    ChurnReason = apps.get_model("playbooks", "ChurnReason")
    for order, name in enumerate(DEFAULT_CHURN_REASONS, start=1):
        ChurnReason.objects.get_or_create(name=name, defaults={"order": order})


def close_wider_open_tasks(apps, schema_editor):
    Task = apps.get_model("playbooks", "Task")
    TaskStatusChange = apps.get_model("playbooks", "TaskStatusChange")
    open_renewal = Task.objects.filter(
        source="renewal", status__in=OPEN, contract__isnull=False
    ).annotate(rank=Coalesce(F("window__days"), -1))
    tighter = open_renewal.filter(contract_id=OuterRef("contract_id"), rank__lt=OuterRef("rank"))
    wider = open_renewal.filter(Exists(tighter))
    rows = list(wider.values_list("id", "status"))
    now = timezone.now()
    for start in range(0, len(rows), 5000):
        batch = rows[start : start + 5000]
        TaskStatusChange.objects.bulk_create(
            TaskStatusChange(task_id=i, from_status=s, to_status="cancelled", at=now, note=NOTE)
            for i, s in batch
        )
        Task.objects.filter(id__in=[i for i, _ in batch]).update(
            status="cancelled", snoozed_until=None, updated_at=now
        )


def rebuild_overdue_entries(apps, schema_editor):
    RenewalQueueEntry = apps.get_model("playbooks", "RenewalQueueEntry")
    RenewalQueueBuild = apps.get_model("playbooks", "RenewalQueueBuild")
    RenewalQueueEntry.objects.filter(Q(window__isnull=True)).delete()
    # A build whose window signature differs from the active windows' makes the next
    # build a full diff (playbooks.services.renewals).
    latest = RenewalQueueBuild.objects.order_by("-started_at", "-id").first()
    if latest is not None:
        RenewalQueueBuild.objects.filter(pk=latest.pk).update(windows="(before overdue tasks)")


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0010_renewal_forecasts_outcomes_overdue_tasks")]
    operations = [
        migrations.RunPython(churn_reasons, migrations.RunPython.noop),
        migrations.RunPython(close_wider_open_tasks, migrations.RunPython.noop),
        migrations.RunPython(rebuild_overdue_entries, migrations.RunPython.noop),
    ]

"""The chaos loop's workloads (work put in flight through the product's own services) and
faults (kill -9 of a worker, a broker restart, backend termination)."""

import csv
import io
import random
import time
from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone

# Members of the fan-out segment: enough to take a few batches on the bulk queue, few
# enough that a fan-out's own work takes well under the two minutes allowed to settle.
FANOUT_MEMBERS = 150
WATCHED_RULE = {"field": "health_score", "op": "lt", "value": 30}


@dataclass
class Expected:
    """What the loop asked for, for the "nothing lost" check."""

    activations: dict[int, int] = field(default_factory=dict)
    imports: dict[int, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"activations": self.activations, "imports": self.imports}


def setup_segments_and_playbooks(segment_count: int) -> None:
    """Realistic segments (bench/recompute_segments.py), the fan-out segment, and an
    on_enter playbook on a segment the account changes move accounts in and out of."""
    from recompute_segments import segment_specs

    from playbooks import services as playbook_services
    from segments import engine, services
    from segments.models import ExclusiveGroup

    for spec in segment_specs()[:segment_count]:
        extra = {}
        if spec.group:
            group, _ = ExclusiveGroup.objects.get_or_create(name=spec.group)
            extra = {"exclusive_group": group, "priority": spec.priority}
        services.segment_create(
            name=spec.name,
            rule=spec.rule,
            rank_by=spec.rank_by,
            rank_limit=spec.rank_limit,
            publish=True,
            **extra,
        )
    services.segment_create(name="Chaos fan-out", rule=fanout_rule(), publish=True)
    watched = services.segment_create(name="Chaos watched", rule=WATCHED_RULE, publish=True)
    engine.segments_recompute_all()
    playbook_services.playbook_create(
        name="Chaos: a task on entry",
        segment=watched,
        is_active=True,
        steps=[{"kind": "create_task", "config": {"title": "Check {{ account.name }}"}}],
    )


def fanout_rule() -> dict:
    """``employees`` between two values that bound about FANOUT_MEMBERS accounts (the
    loop's account changes never touch ``employees``)."""
    from customers.models import Account

    values = Account.objects.filter(employees__isnull=False).order_by("employees")
    middle = values.count() // 2
    low = values.values_list("employees", flat=True)[middle]
    high = values.values_list("employees", flat=True)[middle + FANOUT_MEMBERS]
    return {"field": "employees", "op": "between", "value": [low, high]}


# --- workloads: each puts work in flight and names the outbox task to wait for -----------


def recompute_all() -> str:
    """Accounts changed behind the services' back (as a repair script would), then the
    recompute of every segment, which must find and fix them."""
    from cs_platform import outbox

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customers_account SET health_score = (coalesce(health_score, 50) + 37) "
            "%% 101 WHERE id %% 50 = %s",
            [random.randrange(50)],
        )
    with transaction.atomic():
        outbox.enqueue("segments.recompute_all")
    return "segments.recompute_all"


def renewal_rebuild() -> str:
    """A third of the renewal queue's entries lost (derived rows), then a full rebuild,
    which must put them back, with no second renewal task."""
    from playbooks.tasks import renewal_rebuild_request

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM playbooks_renewalqueueentry WHERE id %% 3 = %s", [random.randrange(3)]
        )
    with transaction.atomic():
        renewal_rebuild_request(full=True)
    return "playbooks.renewal_queue_rebuild"


def fanout(expected: Expected) -> str:
    """A playbook activated for every current member of the fan-out segment."""
    from playbooks import services as playbook_services
    from segments.models import Membership, Segment

    segment = Segment.objects.get(name="Chaos fan-out")
    playbook = playbook_services.playbook_create(
        name=f"Chaos fan-out {timezone.now():%H:%M:%S.%f}",
        segment=segment,
        is_active=True,
        on_activation="run_for_current_members",
        steps=[{"kind": "create_task", "config": {"title": "Welcome {{ account.name }}"}}],
    )
    members = Membership.objects.filter(segment=segment, entered_at__lt=playbook.activated_at)
    expected.activations[playbook.pk] = members.count()
    return "playbooks.runs_execute"


def account_changes(count: int) -> str:
    """``count`` accounts' health scores changed through the service, in one transaction
    (a bulk edit): the changed-accounts sweep re-evaluates them."""
    from customers import services as customer_services
    from customers.models import Account

    ids = list(Account.objects.order_by("?").values_list("pk", flat=True)[:count])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customers_account SET health_score = (coalesce(health_score, 50) + 41) "
            "%% 101 WHERE id = ANY(%s)",
            [ids],
        )
    with transaction.atomic():
        customer_services.accounts_mark_changed(account_ids=ids)
    return "segments.evaluate_changed"


def crm_import(expected: Expected, rows: int, tag: str) -> str:
    """A HubSpot export of ``rows`` new companies submitted as an import job."""
    from customers.import_models import ImportProfile
    from customers.import_services import import_job_create

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Record ID", "Company name", "Company Domain Name", "Number of Employees"])
    external_ids = [f"chaos-{tag}-{n}" for n in range(rows)]
    for n, external_id in enumerate(external_ids):
        writer.writerow([external_id, f"Chaos {tag} {n}", f"c{tag}-{n}.example", n % 900 + 5])
    upload = SimpleUploadedFile(f"chaos-{tag}.csv", buffer.getvalue().encode(), "text/csv")
    job = import_job_create(
        profile=ImportProfile.objects.get(name="hubspot-companies"),
        upload=upload,
        dry_run=False,
        skip_invalid=False,
    )
    expected.imports[job.pk] = external_ids
    return "customers.import_job_run"


def wait_until_running(task: str, timeout: float = 30) -> bool:
    """Wait until a worker has claimed a row of ``task``; False if none did in time."""
    from cs_platform.models import OutboxMessage

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if OutboxMessage.objects.filter(task=task, state="running").exists():
            return True
        time.sleep(0.02)
    return False


def usual_seconds(task: str, default: float = 0.5) -> float:
    """How long a run of ``task`` took lately (the median of its last five finished rows),
    so that a fault can be timed to land while a run is under way; ``default`` when none
    finished yet."""
    from cs_platform.models import OutboxMessage

    rows = OutboxMessage.objects.filter(
        task=task, state="done", started_at__isnull=False, done_at__isnull=False
    ).order_by("-done_at")[:5]
    durations = sorted((row.done_at - row.started_at).total_seconds() for row in rows)
    return durations[len(durations) // 2] if durations else default


# --- faults --------------------------------------------------------------------------------


def terminate_backends(application_name: str) -> int:
    """pg_terminate_backend of every connection of one worker (by its application_name)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [application_name],
        )
        return cursor.fetchone()[0]

"""What must hold after every fault, once the system has settled: memberships equal a fresh
evaluation, the renewal queue equals a fresh build, no duplicate events, runs or tasks,
nothing stuck and nothing lost. Each check returns a list of violations (empty: holds)."""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone


class Rollback(Exception):  # noqa: N818 (control flow)
    pass


def settled() -> bool:
    """No work left: nothing due in the outbox, no marks, no runs or imports in flight."""
    from cs_platform.models import OutboxMessage
    from customers.import_models import ImportJob
    from customers.models import PendingEvaluation
    from playbooks.models import PlaybookRun

    return not (
        OutboxMessage.objects.filter(state__in=["queued", "running"], due_at__lte=timezone.now())
        .exclude(task="cs_platform.outbox_relay")
        .exists()
        or PendingEvaluation.objects.exists()
        or PlaybookRun.objects.filter(status__in=["pending", "running"]).exists()
        or ImportJob.objects.filter(status__in=["queued", "running"]).exists()
    )


def memberships_equal_a_fresh_evaluation() -> list[str]:
    """Recompute every segment inside a transaction that is rolled back: it must find
    nothing to change."""
    from segments import engine

    try:
        with transaction.atomic():
            result = engine.segments_recompute_all()
            raise Rollback(result)
    except Rollback as done:
        result = done.args[0]
    if result.entered or result.exited:
        return [f"a fresh evaluation would change {result.entered} + {result.exited} memberships"]
    return []


def renewal_queue_equals_a_fresh_build() -> list[str]:
    from playbooks.services import renewal_queue_rebuild

    try:
        with transaction.atomic():
            build = renewal_queue_rebuild(full=True)
            raise Rollback(build)
    except Rollback as done:
        build = done.args[0]
    changes = build.inserted + build.updated + build.deleted + build.tasks_created
    return [f"a fresh renewal build would change {changes} rows"] if changes else []


def no_duplicate_events() -> list[str]:
    """Each (segment, account) history alternates entered / exited, and its last event
    agrees with the stored membership."""
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT kind, lag(kind) OVER (PARTITION BY segment_id, "
            "account_id ORDER BY at, id) AS previous FROM segments_membershipevent) e "
            "WHERE kind = previous"
        )
        (repeated,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM (SELECT DISTINCT ON (segment_id, account_id) segment_id, "
            "account_id, kind FROM segments_membershipevent ORDER BY segment_id, account_id, "
            "at DESC, id DESC) last FULL JOIN segments_membership m USING (segment_id, "
            "account_id) WHERE (m.account_id IS NULL) <> (last.kind IS DISTINCT FROM 'entered')"
        )
        (disagree,) = cursor.fetchone()
    if repeated:
        problems.append(f"{repeated} membership events repeat the previous one")
    if disagree:
        problems.append(f"{disagree} memberships disagree with their last event")
    return problems


def no_duplicate_runs_or_tasks() -> list[str]:
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM playbooks_playbookrun GROUP BY playbook_id, "
            "account_id, membership_event_id, activation_at HAVING count(*) > 1) d"
        )
        if (runs := cursor.fetchone()[0]) > 0:
            problems.append(f"{runs} triggers with more than one playbook run")
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM playbooks_task WHERE playbook_run_id IS NOT "
            "NULL GROUP BY playbook_run_id HAVING count(*) > 1) d"
        )
        if (tasks := cursor.fetchone()[0]) > 0:
            problems.append(f"{tasks} playbook runs with more than one task")
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM playbooks_task WHERE source = 'renewal' "
            "GROUP BY contract_id, window_id HAVING count(*) > 1) d"
        )
        if (renewal := cursor.fetchone()[0]) > 0:
            problems.append(f"{renewal} (contract, window) with more than one renewal task")
    return problems


def nothing_stuck() -> list[str]:
    """Nothing waits more than two minutes past its time."""
    from cs_platform.models import OutboxMessage
    from customers.models import PendingEvaluation
    from playbooks.models import PlaybookRun

    old = timezone.now() - timedelta(minutes=2)
    problems = []
    waiting = OutboxMessage.objects.filter(state="queued", due_at__lt=old)
    lapsed = OutboxMessage.objects.filter(state="running", lease_expires_at__lt=old)
    runs = PlaybookRun.objects.filter(status="running", lease_until__lt=old)
    marks = PendingEvaluation.objects.filter(marked_at__lt=old)
    for label, rows in [
        ("outbox rows due more than 2 min ago", waiting),
        ("outbox rows whose lease ended more than 2 min ago", lapsed),
        ("playbook runs whose lease ended more than 2 min ago", runs),
        ("accounts marked more than 2 min ago", marks),
    ]:
        if count := rows.count():
            problems.append(f"{count} {label}")
    return problems


def nothing_lost(expected: dict) -> list[str]:
    """Every piece of work the loop asked for was done: activation runs for every member,
    a run for every entry event, every import written, no outbox row given up."""
    from cs_platform.models import OutboxMessage
    from customers.import_models import ImportJob
    from customers.models import Account
    from playbooks.models import Playbook, PlaybookRun
    from segments.models import MembershipEvent

    problems = []
    for playbook_id, members in expected["activations"].items():
        runs = PlaybookRun.objects.filter(playbook_id=playbook_id, membership_event__isnull=True)
        if runs.count() != members:
            problems.append(f"playbook {playbook_id}: {runs.count()} runs for {members} members")
    for playbook in Playbook.objects.filter(is_active=True, trigger="on_enter"):
        events = MembershipEvent.objects.filter(
            segment_id=playbook.segment_id, kind="entered", at__gte=playbook.activated_at
        )
        without = events.exclude(playbook_runs__playbook=playbook).count()
        if without:
            problems.append(f"playbook {playbook.pk}: {without} entries without a run")
    unfinished = PlaybookRun.objects.exclude(status__in=["done", "skipped"]).count()
    if unfinished:
        problems.append(f"{unfinished} playbook runs not done")
    for job_id, external_ids in expected["imports"].items():
        job = ImportJob.objects.get(pk=job_id)
        found = Account.objects.filter(external_id__in=external_ids).count()
        if job.status != "done" or found != len(external_ids):
            problems.append(f"import {job_id}: {job.status}, {found}/{len(external_ids)} accounts")
    for row in OutboxMessage.objects.filter(state="failed"):
        problems.append(f"outbox row given up: {row} ({row.error[:120]})")
    return problems


CHECKS = {
    "memberships = fresh evaluation": memberships_equal_a_fresh_evaluation,
    "renewal queue = fresh build": renewal_queue_equals_a_fresh_build,
    "no duplicate events": no_duplicate_events,
    "no duplicate runs / tasks": no_duplicate_runs_or_tasks,
    "nothing stuck > 2 min": nothing_stuck,
}

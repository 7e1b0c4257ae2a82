"""A playbook's activation for its current members is set-based (one INSERT ... SELECT per
chunk of members) and its runs are executed in batches per message; a run left running by
a dead worker is executed again once its lease lapses, without repeating its done steps."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cs_platform import outbox
from cs_platform.db import table_name
from cs_platform.models import OutboxMessage
from playbooks import services, tasks
from playbooks.models import (
    PlaybookActivation,
    PlaybookRun,
    PlaybookStepRun,
    RunStatus,
    StepOutcome,
    Task,
)
from playbooks.services import triggers
from playbooks.tests.factories import (
    MembershipFactory,
    PlaybookFactory,
    PlaybookStepFactory,
    SegmentFactory,
)

pytestmark = pytest.mark.django_db


def test_activation_inserts_runs_per_chunk_and_queues_their_execution_in_batches(
    today, monkeypatch
):
    # given 12 members since before the activation, chunks of 5 and batches of 4
    monkeypatch.setattr(triggers, "ACTIVATION_CHUNK", 5)
    monkeypatch.setattr(tasks, "RUN_EXECUTE_BATCH", 4)
    segment = SegmentFactory()
    members = [MembershipFactory(segment=segment) for _ in range(12)]
    playbook = PlaybookFactory(
        segment=segment,
        activated_at=timezone.now() - timedelta(hours=1),
        on_activation=PlaybookActivation.RUN_FOR_CURRENT_MEMBERS,
        reentry_cooldown_days=30,
    )
    # and one member for whom the playbook ran ten days ago (the cooldown skips it)
    cooled = members[7].account
    PlaybookRun.objects.create(
        playbook=playbook,
        account=cooled,
        activation_at=timezone.now() - timedelta(days=10),
        triggered_at=timezone.now() - timedelta(days=10),
        status=RunStatus.DONE,
    )

    # when its events are processed
    with CaptureQueriesContext(connection) as queries:
        result = services.playbooks_process_events(today=today)

    # then one INSERT ... SELECT per chunk made the runs: 11 pending, 1 skipped
    assert (result.runs_created, result.runs_skipped) == (11, 1)
    runs_table = table_name(PlaybookRun)
    inserts = [q for q in queries if q["sql"].startswith(f"INSERT INTO {runs_table}")]
    assert len(inserts) == 3
    skipped = PlaybookRun.objects.get(account=cooled, status=RunStatus.SKIPPED)
    assert "reentry_cooldown_days" in skipped.detail
    # and their execution is queued in batches of at most 4 per message, each run once
    batches = OutboxMessage.objects.filter(task="playbooks.runs_execute").order_by("pk")
    queued = [run_id for batch in batches for run_id in batch.args[0]]
    # (chunks of 5, 4 and 2 pending runs: batches of 4+1, 4 and 2)
    assert [len(batch.args[0]) for batch in batches] == [4, 1, 4, 2]
    pending = PlaybookRun.objects.filter(playbook=playbook, status=RunStatus.PENDING)
    assert sorted(queued) == sorted(pending.values_list("pk", flat=True))

    # and processing again creates nothing more
    again = services.playbooks_process_events(today=today)
    assert (again.runs_created, again.runs_skipped) == (0, 0)


def left_by_a_dead_worker(*, lease_until) -> PlaybookRun:
    """A two-step run whose worker died after step 1 committed (its task created) and
    before step 2: running, step 1 ok, step 2 pending."""
    playbook = PlaybookFactory()
    first, _ = (
        PlaybookStepFactory(playbook=playbook, order=1, config={"title": "First"}),
        PlaybookStepFactory(playbook=playbook, order=2, config={"title": "Second"}),
    )
    member = MembershipFactory(segment=playbook.segment)
    started = timezone.now() - timedelta(minutes=10)
    run = PlaybookRun.objects.create(
        playbook=playbook,
        account=member.account,
        activation_at=playbook.activated_at,
        triggered_at=playbook.activated_at,
        status=RunStatus.RUNNING,
        started_at=started,
        lease_until=lease_until,
    )
    step_run = PlaybookStepRun.objects.create(
        run=run, step=first, order=1, kind="create_task", attempts=1, started_at=started
    )
    services.task_create(
        account=member.account,
        title="First",
        playbook_run=run,
        dedupe_key=f"playbook-run:{run.id}:1",
    )
    step_run.outcome = StepOutcome.OK
    step_run.save(update_fields=["outcome"])
    PlaybookStepRun.objects.create(run=run, step=playbook.steps.get(order=2), order=2, kind="x")
    return run


def test_a_run_held_by_a_dead_worker_is_executed_again_once(
    today, eager_tasks, django_capture_on_commit_callbacks
):
    # given a run whose worker died between its steps, its lease lapsed a minute ago
    run = left_by_a_dead_worker(lease_until=timezone.now() - timedelta(minutes=1))
    # and one whose worker still answers for it
    alive = left_by_a_dead_worker(lease_until=timezone.now() + timedelta(minutes=1))

    # when the recovery passes (twice)
    with django_capture_on_commit_callbacks(execute=True):
        recovered = services.playbook_runs_recover()
    with django_capture_on_commit_callbacks(execute=True):
        again = services.playbook_runs_recover()

    # then the lapsed run was executed once more: step 2 done, step 1 not repeated
    assert (recovered, again) == (1, 0)
    run.refresh_from_db()
    assert (run.status, run.lease_until) == (RunStatus.DONE, None)
    assert sorted(Task.objects.filter(playbook_run=run).values_list("title", flat=True)) == [
        "First",
        "Second",
    ]
    assert list(run.step_runs.values_list("attempts", flat=True)) == [1, 1]
    # and the live one was left alone
    alive.refresh_from_db()
    assert alive.status == RunStatus.RUNNING
    assert Task.objects.filter(playbook_run=alive).count() == 1


def test_pending_runs_nobody_queued_are_recovered_unless_executions_are_queued(today):
    # given a pending run created 11 minutes ago
    playbook = PlaybookFactory()
    member = MembershipFactory(segment=playbook.segment)
    run = PlaybookRun.objects.create(
        playbook=playbook,
        account=member.account,
        activation_at=playbook.activated_at,
        triggered_at=playbook.activated_at,
    )
    PlaybookRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=11))

    # when executions are still queued (a fan-out's backlog), then it is left to them
    backlog = outbox.enqueue("playbooks.runs_execute", [run.pk], delay=60)
    assert services.playbook_runs_recover() == 0

    # when nothing is queued any more, then it is queued again, with a lease
    OutboxMessage.objects.filter(pk=backlog).update(state="done")
    assert services.playbook_runs_recover() == 1
    run.refresh_from_db()
    assert run.lease_until > timezone.now()
    assert services.playbook_runs_recover() == 0

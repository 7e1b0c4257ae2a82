"""The worker side of the outbox (cs_platform.executions, cs_platform.tasks.OutboxTask): a
delivery claims its row or does nothing; a dead worker's row is sent again when its lease
runs out and runs once more; retries and failures are recorded on the row."""

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cs_platform import executions, outbox
from cs_platform.models import OutboxMessage, OutboxState

from .probe import RUNS, outbox_probe_task

pytestmark = pytest.mark.django_db
PROBE = outbox_probe_task.name


@pytest.fixture(autouse=True)
def _no_runs():
    RUNS.clear()


def held_row(*, worker: str, lease_left: timedelta, label: str = "held") -> OutboxMessage:
    """A row a worker claimed (attempt 1) and whose lease ends ``lease_left`` from now."""
    now = timezone.now()
    return OutboxMessage.objects.create(
        task=PROBE,
        args=[label],
        queue="bulk",
        state=OutboxState.RUNNING,
        due_at=now - timedelta(minutes=5),
        dispatched_at=now - timedelta(minutes=5),
        dispatches=1,
        attempts=1,
        started_at=now - timedelta(minutes=5),
        heartbeat_at=now + lease_left - executions.lease_duration(),
        lease_expires_at=now + lease_left,
        next_check_at=now + lease_left,
        worker=worker,
    )


def deliver(row: OutboxMessage) -> None:
    """A delivery of the row's message, in-process (as a worker would run it)."""
    outbox_probe_task.apply(args=row.args, kwargs=row.kwargs, task_id=f"outbox-{row.pk}")


def test_a_row_held_by_a_dead_worker_is_sent_again_when_its_lease_ends_and_runs_once(
    eager_tasks,
):
    # given a row whose worker (another machine) stopped renewing its lease
    row = held_row(worker="elsewhere:4242", lease_left=timedelta(seconds=30))

    # when the relay passes while the lease holds, then nothing is sent
    assert outbox.relay().sent == 0
    # when the lease has run out, then the relay sends it and it runs once, attempt 2
    OutboxMessage.objects.filter(pk=row.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        next_check_at=timezone.now() - timedelta(seconds=1),
    )
    assert outbox.relay().sent == 1
    row.refresh_from_db()
    assert RUNS == [("held", "ok")]
    assert (row.state, row.attempts, row.dispatches) == (OutboxState.DONE, 2, 2)

    # and a late redelivery of the same message (the broker's) does nothing
    deliver(row)
    assert RUNS == [("held", "ok")]
    assert outbox.relay().sent == 0


def test_a_live_lease_is_respected_but_a_vanished_process_on_this_host_is_not(eager_tasks):
    # given a row held under a live lease by a process that exists (this one's parent)
    import os

    host = socket.gethostname()
    alive = held_row(worker=f"{host}:{os.getppid()}", lease_left=timedelta(seconds=50))
    # when a second delivery arrives, then it does nothing
    deliver(alive)
    assert RUNS == []

    # given a row held under a live lease by a worker child of this host that was killed
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    orphan = held_row(worker=f"{host}:{child.pid}", lease_left=timedelta(seconds=50), label="o")
    # when its message comes back (the worker requeues a lost child's message at once),
    # then it runs without waiting for the lease
    deliver(orphan)
    orphan.refresh_from_db()
    assert RUNS == [("o", "ok")] and orphan.state == OutboxState.DONE


def test_a_message_without_a_row_is_adopted_and_its_duplicate_does_nothing():
    # given a message sent by beat (no outbox row), when a worker starts it
    execution = executions.execution_start(task=PROBE, message_id="beat-1", args=[], kwargs={})
    # then a running row is written for it, under this process's lease
    row = OutboxMessage.objects.get(message_id="beat-1")
    assert execution.id == row.pk and row.state == OutboxState.RUNNING and row.attempts == 1

    # when the same message is delivered again while it runs, or after it finished
    again = executions.execution_start(task=PROBE, message_id="beat-1", args=[], kwargs={})
    executions.execution_done(execution)
    late = executions.execution_start(task=PROBE, message_id="beat-1", args=[], kwargs={})
    # then nothing runs twice
    assert again is None and late is None
    row.refresh_from_db()
    assert row.state == OutboxState.DONE


def test_retry_later_queues_the_row_with_a_due_time_not_a_broker_countdown(
    eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue(PROBE, "hook", "retry_later")
    row = OutboxMessage.objects.get()
    assert RUNS == [("hook", "retry_later")]
    assert (row.state, row.attempts, row.dispatched_at) == (OutboxState.QUEUED, 1, None)
    assert timedelta(seconds=28) < row.due_at - timezone.now() <= timedelta(seconds=30)
    # a delivery before it is due does nothing
    deliver(row)
    assert len(RUNS) == 1


def test_transient_database_errors_are_retried_with_backoff_then_given_up(
    eager_tasks, django_capture_on_commit_callbacks
):
    # given a task (max_retries 2) that hits a database error every time
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue(PROBE, "db", "db_error")
    row = OutboxMessage.objects.get()
    waits = []
    for _ in range(3):
        row.refresh_from_db()
        if row.state != OutboxState.QUEUED:
            break
        waits.append(round((row.due_at - timezone.now()).total_seconds()))
        OutboxMessage.objects.filter(pk=row.pk).update(
            due_at=timezone.now(), next_check_at=timezone.now()
        )
        outbox.relay()
    # then it ran three times, waiting 1 s then 2 s, and was given up after the third
    row.refresh_from_db()
    assert len(RUNS) == 3 and waits == [1, 2]
    assert row.state == OutboxState.FAILED and "Gave up after 3 failures" in row.error


def test_a_bug_marks_the_row_failed_with_the_error(eager_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue(PROBE, "x", "bug")
    row = OutboxMessage.objects.get()
    assert row.state == OutboxState.FAILED and row.error == "ValueError: a bug"
    assert row.done_at is not None and row.next_check_at is None


def test_the_heartbeat_moves_the_lease_of_this_processs_rows_only():
    # given a row this process runs and one another worker holds
    mine = executions.execution_start(task=PROBE, message_id="mine", args=[], kwargs={})
    other = held_row(worker="elsewhere:1", lease_left=timedelta(seconds=10))
    OutboxMessage.objects.filter(pk=mine.id).update(
        lease_expires_at=timezone.now() + timedelta(seconds=5)
    )
    executions._heartbeat.running[mine.id] = mine.attempt
    try:
        # when the heartbeat beats, then only this process's lease is renewed, in full
        assert executions.beat() == 1
    finally:
        executions._heartbeat.running.clear()
    renewed = OutboxMessage.objects.get(pk=mine.id).lease_expires_at - timezone.now()
    assert renewed > executions.lease_duration() - timedelta(seconds=5)
    assert OutboxMessage.objects.get(pk=other.pk).lease_expires_at < timezone.now() + timedelta(
        seconds=11
    )


# --- a connection lost under a live worker (the chaos script's pg_terminate_backend) ------

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_terminate_backend is PostgreSQL's"
)


@needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("outcome", "state", "runs"),
    [
        # the task ended well: its end is recorded on a new connection
        ("connection_lost", OutboxState.DONE, 1),
        # the task's error came from elsewhere (a thread): it is queued again at once
        ("connection_lost_then_db_error", OutboxState.QUEUED, 1),
    ],
)
def test_a_terminated_backend_does_not_leave_the_row_to_its_lease(
    eager_tasks, outcome, state, runs
):
    # given a queued row whose task loses this worker's database connection as it runs
    row_id = outbox.enqueue(PROBE, "lost", outcome, delay=60)
    OutboxMessage.objects.filter(pk=row_id).update(due_at=timezone.now())
    # when a worker (alive all along) delivers it
    outbox_probe_task.apply(args=["lost", outcome], task_id=f"outbox-{row_id}")
    # then the end is recorded at once, not a minute later when the lease runs out
    row = OutboxMessage.objects.get(pk=row_id)
    assert (row.state, len(RUNS)) == (state, runs)
    assert row.lease_expires_at is None
    if state == OutboxState.QUEUED:
        assert row.failures == 1 and row.due_at <= timezone.now() + timedelta(seconds=1)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_terminated_while_idle_does_not_lose_the_next_delivery(eager_tasks):
    # given a queued row, and this worker's persistent connection terminated between tasks
    row_id = outbox.enqueue(PROBE, "after idle", delay=60)
    OutboxMessage.objects.filter(pk=row_id).update(due_at=timezone.now())
    from .probe import backend_terminate

    backend_terminate()
    # when the next delivery comes, then it claims its row on a new connection and runs
    outbox_probe_task.apply(args=["after idle"], task_id=f"outbox-{row_id}")
    assert RUNS == [("after idle", "ok")]
    assert OutboxMessage.objects.get(pk=row_id).state == OutboxState.DONE


def test_a_dead_workers_row_is_sent_again_after_the_base_grace_each_time(monkeypatch, settings):
    # given a row whose worker died (its lease is over), delivered once before
    settings.OUTBOX_REDISPATCH_SECONDS = 60
    row = held_row(worker="elsewhere:4242", lease_left=timedelta(seconds=-1))
    # when the relay sends it again and that message is lost too (chaos: a consumer
    # killed between taking it from Redis and recording it)
    monkeypatch.setattr(outbox, "_publish", lambda row: None)
    assert outbox.relay().sent == 1
    # then it is sent once more after the base grace, not a doubled one (120 s), so a
    # dead worker's work is back within two minutes
    row.refresh_from_db()
    assert (row.state, row.dispatches) == (OutboxState.RUNNING, 2)
    assert timedelta(seconds=55) < row.next_check_at - timezone.now() <= timedelta(seconds=60)
    OutboxMessage.objects.filter(pk=row.pk).update(next_check_at=timezone.now())
    assert outbox.relay().sent == 1
    row.refresh_from_db()
    assert row.dispatches == 3
    assert row.next_check_at - timezone.now() <= timedelta(seconds=60)

"""The outbox (cs_platform.outbox): work recorded with the change that calls for it, sent
after commit, delayed in the database, coalesced by key, sent again when lost, and held
back in the broker by a queue's window. Tasks run in-process here (``eager_tasks``); see
test_broker_outage and the playbooks and segments integration tests for real workers."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from cs_platform import outbox
from cs_platform.celery import app
from cs_platform.models import OutboxMessage, OutboxState

from .probe import RUNS, outbox_probe_task

pytestmark = pytest.mark.django_db
PROBE = outbox_probe_task.name


@pytest.fixture(autouse=True)
def _no_runs():
    RUNS.clear()


def test_work_is_recorded_in_the_writers_transaction_and_sent_when_it_commits(
    eager_tasks, django_capture_on_commit_callbacks
):
    # given a transaction that records work and then rolls back
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue(PROBE, "lost")
        raise RuntimeError("the change fails")
    # then nothing was recorded, nothing ran
    assert not OutboxMessage.objects.exists() and RUNS == []

    # when a transaction that records work commits
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox.enqueue(PROBE, "kept")
        # (before the commit the row is there, not yet sent)
        assert OutboxMessage.objects.get().dispatched_at is None
        assert RUNS == []

    # then it was sent at the commit and ran once
    row = OutboxMessage.objects.get()
    assert RUNS == [("kept", "ok")]
    assert (row.state, row.attempts, row.dispatches) == (OutboxState.DONE, 1, 1)


def test_delayed_work_waits_in_the_database_until_the_relay_finds_it_due(
    eager_tasks, django_capture_on_commit_callbacks
):
    # given work due in 10 seconds
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue(PROBE, "later", delay=10)
    row = OutboxMessage.objects.get()
    assert row.dispatched_at is None and RUNS == []

    # when the relay passes before it is due, nothing is sent
    assert outbox.relay().sent == 0
    # when it passes once it is due (moved back 11 s instead of waiting), it is sent and runs
    earlier = timedelta(seconds=11)
    OutboxMessage.objects.filter(pk=row.pk).update(
        due_at=row.due_at - earlier, next_check_at=row.next_check_at - earlier
    )
    assert outbox.relay().sent == 1
    assert RUNS == [("later", "ok")]


def test_a_dedupe_key_coalesces_work_while_one_is_queued():
    # given queued work with a key
    first = outbox.enqueue(PROBE, "a", dedupe_key="sweep", delay=60)
    # when the same work is asked for again, it coalesces
    assert outbox.enqueue(PROBE, "b", dedupe_key="sweep", delay=60) is None
    assert OutboxMessage.objects.count() == 1
    # and once the queued one has started, the next request is recorded
    OutboxMessage.objects.filter(pk=first).update(state=OutboxState.RUNNING)
    assert outbox.enqueue(PROBE, "c", dedupe_key="sweep") is not None
    assert OutboxMessage.objects.filter(dedupe_key="sweep").count() == 2


def test_a_message_sent_and_never_started_is_sent_again_with_a_doubling_grace(
    eager_tasks, settings
):
    # given a row sent 61 s ago whose message was lost (a broker restart)
    settings.OUTBOX_REDISPATCH_SECONDS = 60
    sent_at = timezone.now() - timedelta(seconds=61)
    row = OutboxMessage.objects.create(
        task=PROBE,
        args=["lost"],
        queue="bulk",
        due_at=sent_at,
        dispatched_at=sent_at,
        dispatches=1,
        next_check_at=sent_at + outbox.redispatch_grace(1),
    )

    # when the relay passes, then it is sent again and runs
    result = outbox.relay()
    assert (result.sent, result.resent) == (1, 1)
    row.refresh_from_db()
    assert (row.dispatches, row.state, RUNS) == (2, OutboxState.DONE, [("lost", "ok")])
    assert outbox.redispatch_grace(2) == timedelta(seconds=120)
    assert outbox.redispatch_grace(9) == timedelta(seconds=60 * 32)


def test_a_windowed_queue_holds_at_most_its_window_in_the_broker(settings):
    # given a window of 2 for "bulk" and five pieces of bulk work (no worker runs them)
    settings.OUTBOX_QUEUE_WINDOWS = {"bulk": 2}
    for n in range(5):
        outbox.enqueue(PROBE, f"job {n}", queue="bulk")
    try:
        # when the relay passes, then two are sent, in order, and three wait here
        assert outbox.relay().sent == 2
        sent = OutboxMessage.objects.filter(dispatched_at__isnull=False).order_by("pk")
        assert [r.args for r in sent] == [["job 0"], ["job 1"]]
        assert outbox.relay().sent == 0
        # and when a worker has started one, the next is sent
        OutboxMessage.objects.filter(pk=sent[0].pk).update(state=OutboxState.RUNNING)
        assert outbox.relay().sent == 1
        # interactive work is never held back by the bulk backlog
        outbox.enqueue(PROBE, "now", queue="interactive")
        assert outbox.relay().sent == 1
    finally:
        app.control.purge()


def test_work_is_routed_to_its_queue_and_a_queue_can_be_chosen():
    outbox.enqueue("segments.evaluate_changed")
    outbox.enqueue("playbooks.renewal_queue_rebuild")
    outbox.enqueue("playbooks.renewal_queue_rebuild", kwargs={"full": True}, queue="interactive")
    assert list(OutboxMessage.objects.order_by("pk").values_list("queue", flat=True)) == [
        "interactive",
        "bulk",
        "interactive",
    ]
    with pytest.raises(ValueError, match="Unknown queue"):
        outbox.enqueue(PROBE, queue="fast")


def test_the_relay_purges_old_finished_rows_and_keeps_failures_longer():
    now = timezone.now()
    for state, age in [
        (OutboxState.DONE, timedelta(hours=25)),
        (OutboxState.DONE, timedelta(hours=1)),
        (OutboxState.FAILED, timedelta(days=2)),
        (OutboxState.FAILED, timedelta(days=15)),
    ]:
        OutboxMessage.objects.create(task=PROBE, state=state, due_at=now, done_at=now - age)
    assert outbox.purge(now=now) == 2
    assert sorted(OutboxMessage.objects.values_list("state", flat=True)) == ["done", "failed"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two writers at once: SQLite serializes them"
)
def test_a_long_transaction_holding_queued_work_does_not_block_another_writer():
    # given a long transaction (an import) that recorded a sweep and has not committed
    recorded = threading.Event()
    release = threading.Event()

    def long_writer() -> None:
        try:
            with transaction.atomic():
                outbox.enqueue(PROBE, "import", dedupe_key="sweep", delay=60)
                recorded.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    writer = threading.Thread(target=long_writer)
    writer.start()
    assert recorded.wait(timeout=10)
    try:
        # when another writer records the same work meanwhile, then it does not wait
        started = time.monotonic()
        with transaction.atomic():
            outbox.enqueue(PROBE, "patch", dedupe_key="sweep", delay=60)
        assert time.monotonic() - started < 1
    finally:
        release.set()
        writer.join(timeout=10)
    # and both rows exist (the second sweep will find little left to do)
    assert OutboxMessage.objects.filter(dedupe_key="sweep").count() == 2


def test_the_admin_lists_messages_and_runs_failed_ones_again(admin_client):
    # given a failed row and a done one
    now = timezone.now()
    failed = OutboxMessage.objects.create(
        task=PROBE, state=OutboxState.FAILED, due_at=now, done_at=now, error="ValueError: x"
    )
    done = OutboxMessage.objects.create(task=PROBE, state=OutboxState.DONE, due_at=now)
    assert admin_client.get("/admin/cs_platform/outboxmessage/").status_code == 200

    # when a superuser runs both again, then only the failed one is queued, due now
    response = admin_client.post(
        "/admin/cs_platform/outboxmessage/",
        {"action": "run_again", "_selected_action": [failed.pk, done.pk]},
    )
    assert response.status_code == 302
    failed.refresh_from_db()
    done.refresh_from_db()
    assert (failed.state, failed.attempts, failed.done_at) == (OutboxState.QUEUED, 0, None)
    assert done.state == OutboxState.DONE

"""Queues: what a user waits for (re-evaluation of changed accounts, publishes, "now"
buttons, the health app's tasks) goes to "interactive", recomputes of everything, playbook
fan-out, imports and analytics to "bulk", so a bulk backlog never delays the first."""

import pytest

from conftest import celery_worker, redis_reachable, wait_for
from cs_platform import outbox
from cs_platform.celery import app
from cs_platform.models import OutboxMessage

INTERACTIVE = [
    "segments.evaluate_changed",
    "segments.recompute",
    "cs_platform.outbox_relay",
    "health.evaluate_changed",
    "health.account_score",
]
BULK = [
    "segments.recompute_all",
    "segments.recompute_range",
    "segments.recompute_run_finish",
    "segments.recompute_date_dependent",
    "segments.analytics_warm",
    "playbooks.process_events",
    "playbooks.runs_execute",
    "playbooks.run_execute",
    "playbooks.renewal_queue_rebuild",
    "playbooks.runs_recover",
    "customers.import_job_run",
    "customers.accounts_rederive",
    "health.recompute_all",
    "usage.retention",
]


@pytest.mark.parametrize("task", INTERACTIVE)
def test_interactive_tasks_are_routed_to_the_interactive_queue(task):
    assert outbox.queue_for(task) == "interactive"


@pytest.mark.parametrize("task", BULK)
def test_bulk_tasks_are_routed_to_the_bulk_queue(task):
    assert outbox.queue_for(task) == "bulk"


def test_a_worker_started_without_queues_takes_both():
    # the embedded default (scripts/run.sh) runs one worker for everything
    assert sorted(app.amqp.queues) == ["bulk", "interactive"]
    assert app.conf.task_default_queue == "bulk"


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_an_interactive_worker_runs_interactive_work_while_bulk_work_waits(today):
    # given a worker for the interactive queue only
    if not redis_reachable():
        pytest.skip("needs a real Redis broker")
    from segments.tests.engine_fixtures import ARR_100K, account, member_ids, published

    big = account(arr=150000)
    with celery_worker("-Q", "interactive"):
        # when bulk work and a publish (interactive) are queued
        outbox.enqueue("segments.recompute_all")
        segment = published("Big", ARR_100K)

        # then the publish's recompute runs, and the bulk work waits in its queue
        assert wait_for(lambda: member_ids(segment) == {big.pk}, timeout=30)
        bulk = OutboxMessage.objects.get(task="segments.recompute_all")
        assert bulk.state == "queued" and bulk.dispatched_at is not None
    app.control.purge()

"""Celery entry points, the beat schedule, the sweep recorded with account changes and the
management command (tasks run in-process here; see test_recompute_integration for the
real broker and worker)."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from cs_platform.celery import app
from cs_platform.models import OutboxMessage
from customers import services as customer_services
from customers.models import Account
from segments import tasks
from segments.models import RecomputeRun

from .engine_fixtures import ARR_100K, account, member_ids, published

pytestmark = pytest.mark.django_db


def test_beat_schedule_exists_and_is_editable():
    task = PeriodicTask.objects.get(task="segments.recompute_all")
    assert task.interval.every == 15
    assert task.interval.period == "minutes"
    assert PeriodicTask.objects.filter(task="segments.evaluate_changed").exists()


def test_task_names_are_stable():
    for name in ("segments.recompute", "segments.recompute_all", "segments.evaluate_changed"):
        assert name in app.tasks


def test_recompute_all_runs_every_active_segment(
    today, eager_tasks, django_capture_on_commit_callbacks
):
    big = account(arr=150000)
    one = published("Big", ARR_100K)
    two = published("Everyone", {"all": []})
    with django_capture_on_commit_callbacks(execute=True):
        outcome = tasks.segments_recompute_all_task.delay().get()
    # the run's ranges and its end ran as their own tasks (eager here)
    assert outcome["ranges"] >= 1 and outcome["one_by_one"] == []
    run = RecomputeRun.objects.get(pk=outcome["run"])
    assert run.finished_at is not None and run.ranges_left == 0
    assert run.result == {"status": "done", "segments": 2, "entered": 2, "exited": 0}
    assert member_ids(one) == {big.pk}
    assert member_ids(two) == {big.pk}


def test_recompute_task_with_stale_version_writes_nothing(today, eager_tasks):
    account(arr=150000)
    segment = published("Big", ARR_100K)
    result = tasks.segment_recompute_task.delay(segment.pk, segment.current_version_id + 999).get()
    assert result["status"] == "stale_version"
    assert member_ids(segment) == set()


def test_a_burst_of_account_changes_records_one_sweep(today, settings):
    # given a debounce, so that the queued sweep is not due during the test
    settings.SEGMENT_EVAL_DEBOUNCE_SECONDS = 60
    accounts = [account(arr=150000) for _ in range(3)]
    sweeps = OutboxMessage.objects.filter(task="segments.evaluate_changed", state="queued")

    # when three writes mark accounts, each in its own transaction
    for acc in accounts:
        with transaction.atomic():
            customer_services.accounts_mark_changed(account_ids=[acc.pk])

    # then one sweep is queued, due after the debounce
    assert sweeps.count() == 1
    assert sweeps.get().due_at > timezone.now() + timedelta(seconds=50)

    # and once it has started, the next change queues the next one
    sweeps.update(state="running")
    customer_services.accounts_mark_changed(account_ids=[accounts[0].pk])
    assert sweeps.count() == 1


def test_an_account_change_is_swept_when_its_transaction_commits(
    today, eager_tasks, django_capture_on_commit_callbacks
):
    # given a segment and an account that now matches it
    acc = account(arr=150000)
    segment = published("Big", ARR_100K)

    # when the account's mark commits (tasks run in-process)
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.accounts_mark_changed(account_ids=[acc.pk])

    # then the sweep ran and its outbox row is done
    assert member_ids(segment) == {acc.pk}
    assert OutboxMessage.objects.get(task="segments.evaluate_changed").state == "done"


def test_management_command_recomputes(today):
    big = account(arr=150000)
    segment = published("Big", ARR_100K)
    out = StringIO()
    call_command("segments_recompute", segment.slug, stdout=out)
    assert member_ids(segment) == {big.pk}
    assert "big: done, 1 members" in out.getvalue()
    call_command("segments_recompute", "--changed", stdout=out)


def test_management_command_sweep_recomputes_ranked_segments_in_process(today):
    # given a top-1 segment whose marked leader falls below an unmarked non-member
    leader, runner_up = account(arr=300000), account(arr=200000)
    top = published("Top 1", ARR_100K, rank_by="arr", rank_limit=1)
    call_command("segments_recompute", top.slug, stdout=StringIO())
    Account.objects.filter(pk=leader.pk).update(arr=Decimal("150000"))
    customer_services.accounts_mark_changed(account_ids=[leader.pk])
    # when the changed accounts are swept by the command (no worker running)
    call_command("segments_recompute", "--changed", stdout=StringIO())
    # then the full recompute the sweep queued was also done here, at once
    assert member_ids(top) == {runner_up.pk}

"""Celery entry points, the beat schedule, the debounced accounts_changed receiver and the
management command (tasks run in-process here; see test_recompute_integration for the
real broker and worker)."""

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from cs_platform.celery import app
from customers import services as customer_services
from customers.models import Account
from customers.signals import accounts_changed
from segments import tasks

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
    assert outcome == {"segments": 2, "entered": 2, "exited": 0, "one_by_one": []}
    assert member_ids(one) == {big.pk}
    assert member_ids(two) == {big.pk}


def test_recompute_task_with_stale_version_writes_nothing(today, eager_tasks):
    account(arr=150000)
    segment = published("Big", ARR_100K)
    result = tasks.segment_recompute_task.delay(segment.pk, segment.current_version_id + 999).get()
    assert result["status"] == "stale_version"
    assert member_ids(segment) == set()


def test_burst_of_account_changes_enqueues_one_sweep(today, eager_tasks, settings):
    # given the sweep is pending after a first change (eager: it ran already, mark deleted)
    settings.SEGMENT_EVAL_DEBOUNCE_SECONDS = 0
    acc = account(arr=150000)
    segment = published("Big", ARR_100K)
    customer_services.accounts_mark_changed(account_ids=[acc.pk])
    cache.set(tasks.EVALUATE_CHANGED_PENDING_KEY, 1)  # a sweep is already queued

    # when more changes arrive, then no further sweep is enqueued
    accounts_changed.send(sender=Account, account_ids=[acc.pk])
    assert member_ids(segment) == set()

    # and once the pending one has run (it clears the key), the next change enqueues again
    cache.delete(tasks.EVALUATE_CHANGED_PENDING_KEY)
    accounts_changed.send(sender=Account, account_ids=[acc.pk])
    assert member_ids(segment) == {acc.pk}


def test_management_command_recomputes(today):
    big = account(arr=150000)
    segment = published("Big", ARR_100K)
    out = StringIO()
    call_command("segments_recompute", segment.slug, stdout=out)
    assert member_ids(segment) == {big.pk}
    assert "big: done, 1 members" in out.getvalue()
    call_command("segments_recompute", "--changed", stdout=out)

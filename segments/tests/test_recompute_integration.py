"""Recompute across real connections and processes: two concurrent recomputes of one
segment are serialized, and tasks run through the real Redis broker and a real worker."""

import threading
import time

import pytest
from django.db import connection, connections

from conftest import wait_for
from cs_platform.db import table_name
from customers import services as customer_services
from segments import engine, services
from segments.models import Membership, MembershipEvent

from .engine_fixtures import ARR_100K, account, member_ids

HOLD_SECONDS = 1.0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks: SQLite serializes all writes anyway"
)
def test_two_concurrent_recomputes_of_one_segment_are_serialized(settings):
    # given 30 matching accounts and a published segment, never computed
    from datetime import date

    settings.CS_TODAY = date(2026, 11, 22)
    accounts = [account(arr=150000 + i) for i in range(30)]
    segment = services.segment_create(name="Big", rule=ARR_100K)
    services.version_publish(version=segment.versions.get())  # autocommit: task not sent
    results: dict[str, engine.RecomputeResult] = {}
    first_diffed = threading.Event()

    def hold_after_diff(execute, sql, params, many, context):
        outcome = execute(sql, params, many, context)
        if f"INSERT INTO {table_name(MembershipEvent)}" in sql:  # the diff and its writes
            first_diffed.set()
            time.sleep(HOLD_SECONDS)  # keep the first transaction open, lock held
        return outcome

    def run(name: str, slow: bool) -> None:
        try:
            if slow:
                with connections["default"].execute_wrapper(hold_after_diff):
                    results[name] = engine.segment_recompute(segment_id=segment.pk)
            else:
                first_diffed.wait(10)
                started = time.monotonic()
                results[name] = engine.segment_recompute(segment_id=segment.pk)
                results[name + "_waited"] = time.monotonic() - started
        finally:
            connections.close_all()

    # when two workers recompute it at the same time (separate connections)
    threads = [
        threading.Thread(target=run, args=("first", True)),
        threading.Thread(target=run, args=("second", False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # then the second waited for the first and found nothing left to do:
    # exactly one set of events and memberships
    assert results["first"].entered == 30
    assert results["second"].entered == 0
    assert results["second_waited"] >= HOLD_SECONDS * 0.5
    assert MembershipEvent.objects.filter(segment=segment).count() == 30
    assert member_ids(segment) == {a.pk for a in accounts}


@pytest.mark.redis
def test_publish_and_account_change_recompute_through_broker_and_worker(
    celery_worker_process, settings
):
    # given a matching account and a draft (the worker runs in its own process)
    settings.SEGMENT_EVAL_DEBOUNCE_SECONDS = 0
    big = account(arr=150000)
    small = account(arr=10)
    segment = services.segment_create(name="Big", rule=ARR_100K)

    # when the draft is published (autocommit: the task is sent on commit)
    services.version_publish(version=segment.versions.get())

    # then the real worker recomputes the segment
    assert wait_for(lambda: member_ids(segment) == {big.pk}, timeout=30), member_ids(segment)
    assert wait_for(lambda: segment.snapshots.exists())

    # and when an account's contract data changes through the customers services, the
    # accounts_changed receiver queues the sweep and the worker re-evaluates it
    from datetime import date, timedelta
    from decimal import Decimal

    customer_services.contract_create(
        account=small,
        start_date=date.today() - timedelta(days=10),
        end_date=date.today() + timedelta(days=300),
        arr=Decimal("250000"),
    )
    assert wait_for(lambda: member_ids(segment) == {big.pk, small.pk}, timeout=30), member_ids(
        segment
    )
    assert Membership.objects.filter(segment=segment).count() == 2

    # and the schedule's recompute of every segment, sent to the worker, catches a change
    # made behind the services' back (no mark, no signal)
    from customers.models import Account
    from segments import tasks

    Account.objects.filter(pk=big.pk).update(arr=Decimal("5"))
    tasks.segments_recompute_all_task.delay()
    assert wait_for(lambda: member_ids(segment) == {small.pk}, timeout=30), member_ids(segment)
    assert MembershipEvent.objects.filter(segment=segment, kind="exited").count() == 1

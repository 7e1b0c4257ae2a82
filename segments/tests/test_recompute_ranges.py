"""The recompute of every segment spread over account-id ranges: it leaves exactly the
memberships and events a recompute of each segment on its own leaves, whatever the
ranges, after a range is killed and run again, and while segments are edited or
published; through the real broker and worker the run ends."""

import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import wait_for
from customers.models import Account
from customers.tests.factories import UserFactory
from segments import engine, services
from segments.engine import recompute_all as recompute_all_module
from segments.engine import work_tables
from segments.models import (
    Membership,
    MembershipEvent,
    RecomputeRange,
    RecomputeRun,
    Segment,
    SegmentSnapshot,
)

from .engine_fixtures import ARR_100K, account, member_ids, mixed_segments, published

pytestmark = pytest.mark.django_db

ARRS = [0, 5000, 60000, 120000, 400000]
PLANS = ["free", "pro", "enterprise", None]
HEALTH = [None, 20, 55, 90]


class _Rollback(Exception):  # noqa: N818 (control flow of the helpers below)
    pass


@contextmanager
def rolled_back() -> Any:
    """Run the block in a savepoint that is rolled back at its end."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


def outcome_of(run: Callable[[], Any]) -> dict[str, Any]:
    """What ``run`` leaves, then undone: every membership (segment, account, version),
    the events it wrote (segment, account, kind, version; counted), and each segment's
    stored count and ARR."""
    seen: dict[str, Any] = {}
    last_event = MembershipEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with rolled_back():
        run()
        seen["memberships"] = set(
            Membership.objects.values_list("segment_id", "account_id", "version_id")
        )
        seen["events"] = Counter(
            MembershipEvent.objects.filter(id__gt=last_event).values_list(
                "segment_id", "account_id", "kind", "version_id"
            )
        )
        seen["totals"] = set(Segment.objects.values_list("pk", "member_count", "arr"))
    return seen


def each_segment_recomputed() -> None:
    for segment_id in Segment.objects.order_by("pk").values_list("pk", flat=True):
        engine.segment_recompute(segment_id=segment_id)


def many_segments(count: int) -> list[Segment]:
    """``count`` simple segments (more than one bitmask word when over 63)."""
    return [
        published(f"ARR over {i * 7000}", {"field": "arr", "op": "gt", "value": i * 7000})
        for i in range(count)
    ]


accounts_data = st.lists(
    st.tuples(
        st.sampled_from(ARRS),
        st.sampled_from(PLANS),
        st.sampled_from(HEALTH),
        st.booleans(),
    ),
    min_size=1,
    max_size=24,
)


@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=accounts_data,
    after=st.lists(
        st.tuples(st.integers(0, 23), st.sampled_from(ARRS), st.sampled_from(PLANS)), max_size=12
    ),
    computed_first=st.booleans(),
    range_size=st.integers(1, 9),
)
def test_the_ranges_leave_what_each_segment_recompute_leaves(
    today: Any, before: list, after: list, computed_first: bool, range_size: int
) -> None:
    with rolled_back():
        # given random accounts, the mix of segments, stored memberships (or none: the
        # first computation), then random changes to the accounts
        owner = UserFactory(username="csm-ranges")
        accounts = [
            account(arr=arr, plan=plan, health_score=health, owner=owner if owned else None)
            for arr, plan, health, owned in before
        ]
        mixed_segments(csm="csm-ranges")
        if computed_first:
            each_segment_recomputed()
        for index, arr, plan in after:
            if index < len(accounts):
                Account.objects.filter(pk=accounts[index].pk).update(arr=Decimal(arr), plan=plan)

        # when every segment is recomputed over ranges of range_size account ids
        ranges = outcome_of(lambda: engine.segments_recompute_all(accounts_per_range=range_size))
        # then memberships, events and totals are those of each segment's own recompute
        assert ranges == outcome_of(each_segment_recomputed)


def test_more_segments_than_a_bitmask_word_holds(today):
    # given 70 segments (two words of bits) and accounts across ranges, some computed
    accounts = [account(arr=arr) for arr in range(0, 500_000, 23_000)]
    segments = many_segments(70)
    for segment in segments[::3]:
        engine.segment_recompute(segment_id=segment.pk)
    Account.objects.filter(pk__in=[a.pk for a in accounts[::2]]).update(arr=Decimal("77000"))

    # when every segment is recomputed in ranges of 4 account ids
    ranges = outcome_of(lambda: engine.segments_recompute_all(accounts_per_range=4))

    # then the result is each segment's own recompute
    assert ranges == outcome_of(each_segment_recomputed)
    assert ranges["memberships"]


def test_a_range_killed_midway_and_run_again_leaves_the_one_pass_result(today, monkeypatch):
    # given computed segments, changed data, and a run of several ranges
    accounts = [account(arr=arr, plan="pro") for arr in (10, 150000, 90000, 300000, 5, 120000)]
    mixed_segments(csm="nobody")
    each_segment_recomputed()
    Account.objects.filter(pk__in=[a.pk for a in accounts[:3]]).update(arr=Decimal("200000"))
    expected = outcome_of(each_segment_recomputed)
    run = engine.recompute_run_start(accounts_per_range=2)
    range_ids = list(run.ranges.order_by("number").values_list("pk", flat=True))
    assert len(range_ids) >= 3

    # when a range dies after writing its diff, inside its transaction
    real_diff = recompute_all_module.segments_range_diff

    def diff_then_die(**kwargs: Any) -> Any:
        real_diff(**kwargs)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(recompute_all_module, "segments_range_diff", diff_then_die)
    with pytest.raises(RuntimeError):
        engine.recompute_range_apply(range_id=range_ids[1])
    monkeypatch.setattr(recompute_all_module, "segments_range_diff", real_diff)

    # then nothing of it stayed; and when every range runs (the killed one again, one
    # twice: a duplicated delivery) and the run ends
    assert RecomputeRange.objects.get(pk=range_ids[1]).done_at is None
    first = engine.recompute_range_apply(range_id=range_ids[0])
    again = engine.recompute_range_apply(range_id=range_ids[0])
    assert first.applied and not again.applied and not again.run_ready
    outcomes = [engine.recompute_range_apply(range_id=pk) for pk in range_ids[1:]]
    assert [o.run_ready for o in outcomes] == [False] * (len(outcomes) - 1) + [True]
    result = engine.recompute_run_finish(run_id=run.pk)
    assert engine.recompute_run_finish(run_id=run.pk) is None  # the end is written once
    for segment_id in run.one_by_one:
        engine.segment_recompute(segment_id=segment_id)

    # then memberships, events and totals are those of each segment's own recompute
    assert result is not None and result.entered + result.exited > 0
    assert outcome_of(lambda: None) == {**expected, "events": Counter()}
    written = Counter(
        MembershipEvent.objects.filter(at__gte=run.created_at).values_list(
            "segment_id", "account_id", "kind", "version_id"
        )
    )
    assert written == expected["events"]


def test_a_segment_republished_during_a_run_is_left_to_its_own_recompute(today):
    # given two computed segments and a run of several ranges
    accounts = [account(arr=150000 + i) for i in range(6)]
    big = published("Big", ARR_100K)
    other = published("Other", ARR_100K)
    engine.segments_recompute_all()
    run = engine.recompute_run_start(accounts_per_range=2)
    range_ids = list(run.ranges.order_by("number").values_list("pk", flat=True))
    Account.objects.filter(pk__in=[a.pk for a in accounts]).update(arr=Decimal("10"))
    engine.recompute_range_apply(range_id=range_ids[0])

    # when "Big" gets a new version between two ranges
    draft = services.version_create_draft(segment=big, rule={"all": []})
    services.version_publish(version=draft)
    for range_id in range_ids[1:]:
        engine.recompute_range_apply(range_id=range_id)
    result = engine.recompute_run_finish(run_id=run.pk)

    # then the later ranges wrote nothing for it and its totals were not written by the
    # run; the other segment was recomputed in full
    assert result.segments == 1
    big.refresh_from_db()
    assert big.member_count == 6  # as before the run: its own recompute comes next
    assert member_ids(other) == set()
    assert SegmentSnapshot.objects.filter(segment=other).count() == 2
    assert engine.segment_recompute(segment_id=big.pk).status == "done"
    assert member_ids(big) == {a.pk for a in accounts}


HOLD_SECONDS = 0.8


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks: SQLite serializes all writes anyway"
)
def test_segment_edits_and_publishes_complete_while_every_segment_is_recomputed(today):
    # given computed segments and accounts over three ranges
    for i in range(6):
        account(arr=150000 * (i % 2))
    big = published("Big", ARR_100K)
    edited = published("Edited", {"all": []})
    engine.segments_recompute_all()
    draft = services.version_create_draft(segment=big, rule={"all": []})
    timings: dict[str, float] = {}
    errors: list[Exception] = []
    in_range = threading.Event()

    def slow_ranges(execute, sql, params, many, context):  # noqa: ANN001, ANN202 (Django's)
        outcome = execute(sql, params, many, context)
        if f"CREATE TEMPORARY TABLE {work_tables.BITS_TABLE}" in sql:
            in_range.set()
            time.sleep(HOLD_SECONDS)  # each range holds its locks this long
        return outcome

    def recompute_every_segment() -> None:
        try:
            started = time.monotonic()
            with connections["default"].execute_wrapper(slow_ranges):
                engine.segments_recompute_all(accounts_per_range=2)
            timings["run"] = time.monotonic() - started
        except Exception as exc:  # noqa: BLE001 (asserted below)
            errors.append(exc)
        finally:
            in_range.set()
            connections.close_all()

    def edit_and_publish() -> None:
        try:
            in_range.wait(10)
            started = time.monotonic()
            services.segment_update(
                segment=Segment.objects.get(pk=edited.pk), data={"name": "Edited again"}
            )
            timings["edit"] = time.monotonic() - started
            started = time.monotonic()
            services.version_publish(version=draft)
            timings["publish"] = time.monotonic() - started
            timings["publish_done_at"] = time.monotonic()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    # when a segment is edited, then another published, during the recompute of every
    # segment (separate connections)
    threads = [
        threading.Thread(target=recompute_every_segment),
        threading.Thread(target=edit_and_publish),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # then the edit did not wait at all, and the publish waited for the one range
    # running, not for the run (three ranges or more, each held HOLD_SECONDS)
    assert errors == []
    assert timings["edit"] < HOLD_SECONDS / 2
    assert timings["publish"] < HOLD_SECONDS * 1.5
    assert timings["run"] >= HOLD_SECONDS * 3
    assert Segment.objects.get(pk=edited.pk).name == "Edited again"
    assert Segment.objects.get(pk=big.pk).current_version_id == draft.pk


@pytest.mark.redis
def test_the_ranges_and_the_end_run_through_broker_and_worker(celery_worker_process):
    # given accounts over several ranges and two segments (the worker: its own process)
    big = [account(arr=150000 + i) for i in range(5)]
    for i in range(4):
        account(arr=i)
    segment = services.segment_create(name="Big", rule=ARR_100K)
    everyone = services.segment_create(name="Everyone", rule={"all": []})
    for one in (segment, everyone):
        one.versions.update(published_at=one.created_at)
        Segment.objects.filter(pk=one.pk).update(current_version=one.versions.get())

    # when the schedule's job is sent (autocommit: the outbox row is dispatched at once)
    from cs_platform import outbox
    from segments import tasks

    outbox.enqueue(tasks.segments_recompute_all_task.name, kwargs={"accounts_per_range": 2})

    # then the worker runs every range and the run's end
    run = wait_for(lambda: RecomputeRun.objects.filter(finished_at__isnull=False).first(), 60)
    assert run, list(RecomputeRun.objects.values())
    assert run.ranges.count() >= 4
    assert run.result == {"status": "done", "segments": 2, "entered": 14, "exited": 0}
    assert member_ids(segment) == {a.pk for a in big}
    assert Membership.objects.filter(segment=everyone).count() == 9
    assert SegmentSnapshot.objects.get(segment=segment).member_count == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks: SQLite serializes all writes anyway"
)
def test_a_publish_waits_for_the_ranges_running_not_for_those_started_after_it(today):
    # given a computed segment, a draft, and a run of several ranges
    for i in range(6):
        account(arr=150000 * (i % 2))
    big = published("Big", ARR_100K)
    engine.segments_recompute_all()
    draft = services.version_create_draft(segment=big, rule={"all": []})
    run = engine.recompute_run_start(accounts_per_range=2)
    first, second = list(run.ranges.order_by("number").values_list("pk", flat=True))[:2]
    started, published_at, finished = threading.Event(), threading.Event(), {}
    errors: list[Exception] = []

    def range_holding(range_id: int, hold: float, after: threading.Event | None) -> None:
        def slow(execute, sql, params, many, context):  # noqa: ANN001, ANN202 (Django's)
            outcome = execute(sql, params, many, context)
            if f"CREATE TEMPORARY TABLE {work_tables.BITS_TABLE}" in sql:
                started.set()
                time.sleep(hold)
            return outcome

        try:
            if after is not None:
                after.wait(10)
                time.sleep(0.3)  # the publish is waiting by now
            with connections["default"].execute_wrapper(slow):
                engine.recompute_range_apply(range_id=range_id)
            finished[range_id] = time.monotonic()
        except Exception as exc:  # noqa: BLE001 (asserted below)
            errors.append(exc)
        finally:
            connections.close_all()

    def publish() -> None:
        try:
            started.wait(10)
            published_at.set()
            began = time.monotonic()
            services.version_publish(version=draft)
            finished["publish"] = time.monotonic()
            finished["publish_seconds"] = finished["publish"] - began
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    # when a publish comes while one range runs, and another range starts after it
    threads = [
        threading.Thread(target=range_holding, args=(first, 1.5, None)),
        threading.Thread(target=publish),
        threading.Thread(target=range_holding, args=(second, 3.0, published_at)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # then the publish waited for the first range only; the later range waited for it: it
    # saw the new version's guard and left the segment to the publish's own recompute (the
    # threads' clocks cannot order them: both return at the publish's commit)
    assert errors == []
    assert 0.5 < finished["publish_seconds"] < 2.5
    assert first in finished and second in finished
    totals = dict(RecomputeRange.objects.filter(pk__in=[first, second]).values_list("pk", "totals"))
    assert str(big.pk) in totals[first]
    assert str(big.pk) not in totals[second]

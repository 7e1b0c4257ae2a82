"""The first computation as a bulk load: a recompute of every segment that starts with
empty membership and event tables fills them without their secondary indexes (where the
database allows it) and builds them at the run's end; a crash of the end, or a run that
never ends, leaves them to be built by the next end or start. A range that fails for good
ends its run partial."""

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from cs_platform.db import dialect
from segments import engine
from segments.engine import recompute_all as recompute_all_module
from segments.models import Membership, MembershipEvent, RecomputeRange
from segments.signals import memberships_changed
from segments.tasks import segments_recompute_range_task

from .engine_fixtures import account, mixed_segments
from .test_recompute_ranges import each_segment_recomputed, many_segments, outcome_of

pytestmark = pytest.mark.django_db

SECONDARY = {
    index.name
    for model in (Membership, MembershipEvent)
    for index in model._meta.indexes  # type: ignore[attr-defined]
}


def index_names() -> set[str]:
    with connection.cursor() as cursor:
        return {
            name
            for model in (Membership, MembershipEvent)
            for name, info in connection.introspection.get_constraints(
                cursor, model._meta.db_table
            ).items()
            if info.get("index")
        }


def test_a_first_computation_builds_the_indexes_it_dropped_and_matches_each_recompute(today):
    # given accounts over several ranges, the mix of segments, nothing computed yet
    for arr in (0, 5000, 60000, 120000, 400000, 90000, 250000):
        account(arr=arr, plan="pro")
    mixed_segments(csm="nobody")
    expected = outcome_of(each_segment_recomputed)

    # when every segment is recomputed from empty: the run starts, its ranges run
    run = engine.recompute_run_start(accounts_per_range=2)
    during = index_names()
    for range_id in run.ranges.order_by("number").values_list("pk", flat=True):
        engine.recompute_range_apply(range_id=range_id)
    engine.recompute_run_finish(run_id=run.pk)
    for segment_id in run.one_by_one:
        engine.segment_recompute(segment_id=segment_id)

    # then the secondary indexes were gone during the load (where the database allows),
    # are all back, and memberships, events and totals are each segment's own recompute
    if dialect().bulk_load_without_indexes:
        assert not SECONDARY & during
    else:
        assert during >= SECONDARY
    assert index_names() >= SECONDARY
    assert outcome_of(lambda: None) == {**expected, "events": Counter()}
    events = Counter(
        MembershipEvent.objects.values_list("segment_id", "account_id", "kind", "version_id")
    )
    assert events == expected["events"]


def test_tables_that_hold_rows_keep_their_indexes(today):
    # given memberships computed already
    for arr in (5000, 150000, 300000):
        account(arr=arr)
    segments = many_segments(3)
    engine.segment_recompute(segment_id=segments[0].pk)
    assert Membership.objects.exists()

    # when a run starts
    engine.recompute_run_start(accounts_per_range=2)

    # then no index was dropped
    assert index_names() >= SECONDARY


def test_an_end_killed_after_building_the_indexes_is_rolled_back_and_runs_again(today, monkeypatch):
    # given a first computation whose ranges are done
    for arr in (5000, 150000, 300000, 80000):
        account(arr=arr)
    segments = many_segments(4)
    run = engine.recompute_run_start(accounts_per_range=2)
    for range_id in run.ranges.values_list("pk", flat=True):
        engine.recompute_range_apply(range_id=range_id)

    # when its end dies after building the indexes, inside its transaction
    def die(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("worker killed")

    real = recompute_all_module.events.store_totals_many
    monkeypatch.setattr(recompute_all_module.events, "store_totals_many", die)
    with pytest.raises(RuntimeError):
        engine.recompute_run_finish(run_id=run.pk)
    monkeypatch.setattr(recompute_all_module.events, "store_totals_many", real)

    # then the run is not ended and (where dropped) the indexes are still missing; its
    # end delivered again builds them and writes the totals
    run.refresh_from_db()
    assert run.finished_at is None
    if dialect().bulk_load_without_indexes:
        assert not SECONDARY & index_names()
    result = engine.recompute_run_finish(run_id=run.pk)
    assert result is not None and result.segments == len(segments)
    assert index_names() >= SECONDARY
    segments[-1].refresh_from_db()
    assert segments[-1].member_count == Membership.objects.filter(segment=segments[-1]).count()


def test_a_run_that_never_ends_leaves_the_indexes_to_the_next_run(today):
    # given a first computation abandoned after one range (a range that failed for good)
    for arr in (5000, 150000, 300000, 80000):
        account(arr=arr)
    many_segments(3)
    abandoned = engine.recompute_run_start(accounts_per_range=2)
    first = abandoned.ranges.order_by("number").first()
    engine.recompute_range_apply(range_id=first.pk)
    assert RecomputeRange.objects.filter(run=abandoned, done_at__isnull=True).exists()
    assert Membership.objects.exists()

    # when the next run starts
    engine.recompute_run_start(accounts_per_range=2)

    # then the indexes are back
    assert index_names() >= SECONDARY


def test_a_first_computation_signals_exactly_the_events_it_wrote(
    today, django_capture_on_commit_callbacks
):
    # given accounts over several ranges and 70 segments (two words of bits)
    for arr in range(0, 500_000, 37_000):
        account(arr=arr)
    many_segments(70)
    received: list[dict[str, Any]] = []

    def receive(**kwargs: Any) -> None:
        received.append(kwargs)

    memberships_changed.connect(receive)
    try:
        # when every segment is computed for the first time
        with django_capture_on_commit_callbacks(execute=True):
            engine.segments_recompute_all(accounts_per_range=3)
    finally:
        memberships_changed.disconnect(receive)

    # then the signals name every event written, each once, under its segment
    signalled = Counter(
        (kwargs["segment_id"], event_id) for kwargs in received for event_id in kwargs["event_ids"]
    )
    written = Counter(MembershipEvent.objects.values_list("segment_id", "id"))
    assert written and signalled == written
    for kwargs in received:
        first, last = kwargs["event_id_range"]
        assert kwargs["event_ids"][0] == first and kwargs["event_ids"][-1] == last
        assert kwargs["event_count"] == len(kwargs["event_ids"])


def test_a_range_failing_for_good_ends_its_run_partial_with_consistent_totals(today, monkeypatch):
    # given a first computation over several ranges, one of which done
    for arr in (5000, 150000, 300000, 80000, 220000, 40000):
        account(arr=arr)
    segments = many_segments(4)
    run = engine.recompute_run_start(accounts_per_range=2)
    range_ids = list(run.ranges.order_by("number").values_list("pk", flat=True))
    segments_recompute_range_task(range_ids[0])

    # when the next range fails for good (not a transient database error)
    def broken(**kwargs: Any) -> Any:
        raise ValueError("a rule the database rejects")

    real = recompute_all_module.segments_range_diff
    monkeypatch.setattr(recompute_all_module, "segments_range_diff", broken)
    with pytest.raises(ValueError):
        segments_recompute_range_task(range_ids[1])
    monkeypatch.setattr(recompute_all_module, "segments_range_diff", real)

    # then the run ended partial, naming the range and the error; each segment's count
    # and ARR are those of its stored memberships; the indexes are back
    run.refresh_from_db()
    assert run.finished_at is not None
    assert run.result["status"] == "partial"
    assert run.result["failed_range"] == 1
    assert "a rule the database rejects" in run.result["error"]
    for segment in segments:
        segment.refresh_from_db()
        stored = Membership.objects.filter(segment=segment)
        assert segment.member_count == stored.count()
        assert segment.arr == sum((m.account.arr for m in stored), Decimal("0"))
    assert index_names() >= SECONDARY
    assert Membership.objects.exists()

    # and a range of the ended run delivered later writes nothing
    before = Membership.objects.count()
    outcome = engine.recompute_range_apply(range_id=range_ids[2])
    assert not outcome.applied and not outcome.run_ready
    assert Membership.objects.count() == before

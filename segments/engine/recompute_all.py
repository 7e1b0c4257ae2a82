"""The recompute of every active segment (the schedule's job), spread over account-id
ranges.

A run (``RecomputeRun``) is started in one short transaction: it records, per unranked
dynamic segment, what its target set depends on besides account data (its guard), and
splits the account ids into ranges (``RecomputeRange``). Each range is then one short
transaction, run by any worker in any order (``recompute_range_apply``; the
``segments.recompute_range`` tasks, or one after the other in ``segments_recompute_all``):

- it locks the segments' rows ``FOR KEY SHARE`` (PostgreSQL), which waits for and holds
  off every other writer of their memberships (a sweep batch, one segment's recompute, a
  publish: they lock the rows FOR UPDATE) but neither the other ranges nor an edit of a
  segment's own fields; nothing is locked between ranges;
- it writes only the segments whose guard is unchanged (a publish, an activity or group
  change meanwhile queues the segment's own recompute), in one pass over the range's
  accounts (``segments_range_diff``), and records the range done with each segment's
  count, ARR and changes in the range, in the same transaction: a range killed midway
  rolls back whole, and runs again; a range done does nothing when delivered again.

The range that leaves none to do says so; the run's end (``recompute_run_finish``) then
writes each segment's totals and snapshot once, from the ranges' figures. Ranked
segments (their top N is a sort of its own) and static ones (totals only) get their own
``segment_recompute``.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Min
from django.utils import timezone

from cs_platform import clock
from cs_platform.db import dialect, table_name
from customers.models import Account

from ..models import RecomputeRange, RecomputeRun, Segment, SegmentKind
from . import events
from .bulk_load import bulk_indexes_drop, bulk_indexes_restore
from .recompute import segment_recompute, segment_writers_lock
from .segments_range_diff import AccountRange, segments_range_diff
from .targets import VersionRules, attribute_specs
from .work_tables import work_tables_ensure

logger = logging.getLogger(__name__)

# Accounts per range (setting SEGMENT_RECOMPUTE_RANGE_ACCOUNTS). A range is one transaction: a publish of one of its segments waits
# for it, and every range pays a fixed cost (compiling and planning a statement with
# every segment's rule, about 10-30 ms for 100 segments). At 100 segments a range of
# 25k accounts takes about 0.2-0.4 s on this machine.
ACCOUNTS_PER_RANGE = 25_000
# At most this many ranges per run (a larger book gets larger ranges).
MAX_RANGES = 64
# Finished runs (and their ranges) kept this long, for the admin and the bench.
RUNS_KEPT = timedelta(days=1)


@dataclass
class RecomputeAllResult:
    segments: int = 0
    entered: int = 0
    exited: int = 0
    # Ranked and static segments, recomputed one by one after the shared pass.
    one_by_one: list[int] = field(default_factory=list)


@dataclass
class RangeOutcome:
    run_id: int
    # Whether this call wrote the range (False: done already, or gone).
    applied: bool
    # Whether every range of the run is done and its end not written yet.
    run_ready: bool
    entered: int = 0
    exited: int = 0


def recompute_run_start(
    *,
    today: date | None = None,
    only: Callable[[Segment], bool] | None = None,
    accounts_per_range: int | None = None,
) -> RecomputeRun:
    """Start a recompute of every active segment (``only``: those it accepts): the run,
    its guards and its ranges of about ``accounts_per_range`` accounts, in one short
    transaction that locks nothing but its own rows. Old finished runs are purged."""
    today = today or clock.today()
    accounts_per_range = accounts_per_range or getattr(
        settings, "SEGMENT_RECOMPUTE_RANGE_ACCOUNTS", ACCOUNTS_PER_RANGE
    )
    with transaction.atomic():
        RecomputeRun.objects.filter(
            finished_at__lt=timezone.now() - RUNS_KEPT
        ).delete()  # bounded: one run every few minutes
        active = _active_segments()
        chosen = [segment for segment in active if only is None or only(segment)]
        together = [
            segment
            for segment in chosen
            if segment.kind == SegmentKind.DYNAMIC and not segment.current_version.rank_by
        ]
        guards = _guards(together, active)
        run = RecomputeRun.objects.create(
            created_at=timezone.now(),
            today=today,
            guards={
                str(segment.pk): {
                    "guard": guards[segment.pk],
                    # Changed by any other writer of the memberships (see the end).
                    "stored": _stored_marker(segment),
                }
                for segment in together
            },
            one_by_one=[segment.pk for segment in chosen if segment not in together],
        )
        bounds = _range_bounds(accounts_per_range) if together else []
        RecomputeRange.objects.bulk_create(
            RecomputeRange(run=run, number=number, low=low, high=high)
            for number, (low, high) in enumerate(bounds)
        )
        run.ranges_left = len(bounds)
        run.save(update_fields=["ranges_left"])
        # A first computation: empty tables are filled without their secondary indexes,
        # built at the run's end; any left missing by an earlier run are built now.
        dropped = bulk_indexes_drop() if together else []
        bulk_indexes_restore(keep_dropped=dropped)
    return run


def recompute_range_apply(*, range_id: int) -> RangeOutcome:
    """Recompute one range of a run, in one transaction (see the module docstring).
    Idempotent: a range done already writes nothing. Safe to run again after a kill."""
    with transaction.atomic():
        account_range = (
            RecomputeRange.objects.select_for_update(of=("self",))
            .select_related("run")
            .filter(pk=range_id)
            .first()
        )
        if account_range is None:
            return RangeOutcome(run_id=0, applied=False, run_ready=False)
        run = account_range.run
        if run.finished_at is not None and account_range.done_at is None:
            # Ended partial (another range failed for good): the next run covers it.
            return RangeOutcome(run_id=run.pk, applied=False, run_ready=False)
        if account_range.done_at is not None:
            return RangeOutcome(
                run_id=run.pk,
                applied=False,
                run_ready=run.ranges_left == 0 and run.finished_at is None,
            )
        with connection.cursor() as cursor:
            work_tables_ensure(cursor)
        segments = _guarded_segments(run)
        # After the locks: later than any write this range waited for.
        now = timezone.now()
        diff = segments_range_diff(
            segments=segments,
            rules=VersionRules(today=run.today, attributes=attribute_specs()),
            now=now,
            accounts=AccountRange(account_range.low, account_range.high),
            cache_key=run.pk,
        )
        account_range.totals = {
            str(segment.pk): [
                *diff.totals.get(segment.pk, (None, None)),
                *diff.changes.get(segment.pk, (0, 0)),
            ]
            for segment in diff.evaluated
        }
        account_range.done_at = now
        account_range.save(update_fields=["totals", "done_at"])
        RecomputeRun.objects.filter(pk=run.pk).update(ranges_left=F("ranges_left") - 1)
        left = RecomputeRun.objects.filter(pk=run.pk).values_list("ranges_left", flat=True)[0]
    return RangeOutcome(
        run_id=run.pk,
        applied=True,
        run_ready=left == 0,
        entered=sum(entered for entered, _ in diff.changes.values()),
        exited=sum(exited for _, exited in diff.changes.values()),
    )


def recompute_run_finish(*, run_id: int) -> RecomputeAllResult | None:
    """The end of a run whose ranges are all done: each segment written by every range
    and still under its guard gets its count, ARR and snapshot, summed from the ranges'
    figures (one UPDATE, one INSERT). None when the run is not ready or ended already.

    The figures are exact when no other writer changed the segment's memberships during
    the run; any other writer (a sweep batch, the segment's own recompute) changes its
    stored count or last computation, so such a segment is counted by one aggregate
    instead."""
    with transaction.atomic():
        run = RecomputeRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.finished_at is not None or run.ranges_left:
            return None
        sums: dict[int, list[Any]] = {}
        complete: dict[int, int] = {}
        ranges = list(run.ranges.values_list("totals", flat=True))
        for totals in ranges:
            for key, (members, cents, entered, exited) in totals.items():
                segment_id = int(key)
                complete[segment_id] = complete.get(segment_id, 0) + 1
                total = sums.setdefault(segment_id, [0, 0, 0, 0])
                total[2] += entered
                total[3] += exited
                if members is None or total[0] is None:
                    total[0] = total[1] = None
                else:
                    total[0] += members
                    total[1] += cents
        written = {sid for sid, count in complete.items() if count == len(ranges)}
        active = _active_segments()
        guards = _guards([s for s in active if s.pk in written], active)
        segments, totals = [], {}
        for segment in active:
            recorded = run.guards.get(str(segment.pk))
            if segment.pk not in written or recorded is None:
                continue
            if guards[segment.pk] != recorded["guard"]:
                continue  # re-published meanwhile: its own recompute writes its totals
            segments.append(segment)
            members, cents = sums[segment.pk][:2]
            if members is not None and _stored_marker(segment) == recorded["stored"]:
                totals[segment.pk] = (members, (Decimal(cents) / 100).quantize(Decimal("0.01")))
        now = timezone.now()
        bulk_indexes_restore()
        events.store_totals_many(segments, now=now, totals=totals)
        result = RecomputeAllResult(
            segments=len(segments),
            entered=sum(total[2] for total in sums.values()),
            exited=sum(total[3] for total in sums.values()),
            one_by_one=list(run.one_by_one),
        )
        run.finished_at = now
        run.result = {
            "status": "done",
            "segments": result.segments,
            "entered": result.entered,
            "exited": result.exited,
        }
        run.save(update_fields=["finished_at", "result"])
    return result


def recompute_run_end_partial(*, range_id: int, error: str) -> RecomputeAllResult | None:
    """End the run of a range that failed for good (not a transient error): the run is
    finished with ``result["status"] = "partial"``, the failed range and the error; each
    segment it recomputes gets its count, ARR and snapshot from one aggregate of its
    stored memberships (consistent, whatever the ranges done wrote); the indexes a bulk
    load dropped are built. The ranges not done yet do nothing when they run; the next
    run recomputes every account. None when the run had ended already."""
    with transaction.atomic():
        run_id = RecomputeRange.objects.filter(pk=range_id).values_list("run_id", flat=True)
        run = RecomputeRun.objects.select_for_update().filter(pk__in=run_id).first()
        if run is None or run.finished_at is not None:
            return None
        number = RecomputeRange.objects.get(pk=range_id).number
        bulk_indexes_restore()
        segments = [segment for segment in _active_segments() if str(segment.pk) in run.guards]
        now = timezone.now()
        events.store_totals_many(segments, now=now, totals={})
        run.finished_at = now
        run.result = {
            "status": "partial",
            "segments": len(segments),
            "failed_range": number,
            "ranges_left": run.ranges_left,
            "error": error[:500],
        }
        run.save(update_fields=["finished_at", "result"])
    logger.error("recompute of every segment %s ended partial: range %s: %s", run.pk, number, error)
    return RecomputeAllResult(segments=len(segments), one_by_one=list(run.one_by_one))


def segments_recompute_all(
    *,
    today: date | None = None,
    only: Callable[[Segment], bool] | None = None,
    accounts_per_range: int | None = None,
) -> RecomputeAllResult:
    """Full recompute of every active segment's current version, in this process: the
    run's ranges one after the other, its end, then the ranked and static segments one
    by one (the schedule's task spreads the ranges over workers instead). ``only``:
    recompute just the active segments it accepts (the day-change job's date-dependent
    ones). A segment whose rule no longer validates keeps its membership (logged), as in
    ``segment_recompute``. Its result is the one ``segment_recompute`` of each would give:
    exclusive groups read the other segments' current rules, never their stored
    membership, so evaluating them together changes nothing."""
    today = today or clock.today()
    run = recompute_run_start(today=today, only=only, accounts_per_range=accounts_per_range)
    for range_id in run.ranges.order_by("number").values_list("pk", flat=True):
        recompute_range_apply(range_id=range_id)
    result = recompute_run_finish(run_id=run.pk) or RecomputeAllResult()
    result.one_by_one = []
    for segment_id in run.one_by_one:
        outcome = segment_recompute(segment_id=segment_id, today=today)
        result.one_by_one.append(segment_id)
        result.segments += outcome.status == "done"
        result.entered += outcome.entered
        result.exited += outcome.exited
    return result


# --- internals ----------------------------------------------------------------------------


def _active_segments() -> list[Segment]:
    return list(
        Segment.objects.filter(is_active=True, current_version__isnull=False)
        .select_related("current_version")
        .order_by("pk")
    )


def _guards(segments: list[Segment], active: list[Segment]) -> dict[int, list]:
    """What each segment's target set depends on besides account data: its kind, version
    and ranking, its exclusive group and priority, and the versions of the active
    segments of its group that win over it (they claim accounts first)."""
    guards = {}
    for segment in segments:
        higher = [
            [other.pk, other.current_version_id]
            for other in active
            if segment.exclusive_group_id
            and other.exclusive_group_id == segment.exclusive_group_id
            and other.kind == SegmentKind.DYNAMIC
            and other.priority < segment.priority
            and other.pk != segment.pk
        ]
        version = segment.current_version
        guards[segment.pk] = [
            segment.kind,
            segment.current_version_id,
            version.rank_by,
            segment.exclusive_group_id,
            segment.priority,
            higher,
        ]
    return guards


def _stored_marker(segment: Segment) -> list:
    """The stored count and time of last computation: every other writer of a segment's
    memberships changes one of them (a full recompute the time, a sweep the count)."""
    computed = segment.last_computed_at
    return [segment.member_count, computed.isoformat() if computed else None]


def _guarded_segments(run: RecomputeRun) -> list[Segment]:
    """Lock the run's segments (their writers' advisory locks shared, then their rows FOR
    KEY SHARE, in id order as every locker does) and return those whose guard is
    unchanged, with their current versions."""
    ids = sorted(int(key) for key in run.guards)
    if not ids:
        return []
    segment_writers_lock(ids, shared=True)
    condition, params = dialect().in_ids("id", ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table_name(Segment)} WHERE {condition} "
            f"ORDER BY id{dialect().key_share_lock}",
            params,
        )
    active = _active_segments()
    current = _guards([s for s in active if str(s.pk) in run.guards], active)
    return [
        segment
        for segment in active
        if segment.pk in current and current[segment.pk] == run.guards[str(segment.pk)]["guard"]
    ]


def _range_bounds(accounts_per_range: int) -> list[tuple[int | None, int | None]]:
    """Account-id ranges of about ``accounts_per_range`` accounts (equal widths between the
    lowest and highest id: two index look-ups, no scan), the first and last unbounded
    so that memberships of deleted accounts are compared too."""
    bounds = Account.objects.aggregate(low=Min("id"), high=Max("id"))
    low, high = bounds["low"], bounds["high"]
    if low is None:
        return [(None, None)]
    span = high - low + 1
    count = max(1, min(MAX_RANGES, -(-span // max(1, accounts_per_range))))
    width = -(-span // count)
    cuts = [low + width * i for i in range(1, count)]
    edges: list[int | None] = [None, *cuts, None]
    return list(zip(edges[:-1], edges[1:], strict=True))

"""Growth history from membership history: a segment's daily snapshots for the days it had
no recompute, rebuilt from its MembershipEvent rows (and contract history for the ARR).

A segment created today over imported history, or one whose history predates the
snapshots, then charts a real time series from the day it began instead of one point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models.functions import TruncDate
from django.utils import timezone

from cs_platform import clock
from cs_platform.db import load_sql, table_name
from customers.models import Contract

from ..analytics.cohorts import DEFAULT_GROWTH_DAYS
from ..analytics.population import contract_counts_on, end_of_day
from ..analytics.statements import date_param, moment_param, to_decimal
from ..models import MembershipEvent, MembershipEventKind, SegmentSnapshot
from .recompute import segment_lock

# Days per statement: each is a (day, end of day) pair in a VALUES list joined with the
# segment's membership spans; 100 keeps the parameters few and one statement short.
DAYS_PER_STATEMENT = 100


@dataclass(frozen=True)
class BackfillResult:
    segment_id: int
    days_written: int
    first_day: date | None


def _backfill_moment(day: date) -> datetime:
    """A backfilled snapshot's time: the last second of its day, so a recompute later that
    day (if any) stays the day's last snapshot."""
    return end_of_day(day) - timedelta(seconds=1)


def segment_snapshots_backfill(
    *, segment_id: int, until: date | None = None, days: int = DEFAULT_GROWTH_DAYS
) -> BackfillResult:
    """Write one snapshot for each day in the ``days`` days up to ``until`` (default:
    yesterday) that has none, from the day of the segment's first membership event: its
    members at the end of that day (from the events) and their ARR on that day (from
    contract history, as docs/metrics.md defines ARR on D).

    Idempotent (a day with a snapshot is left alone, so a second run writes nothing) and
    atomic; it holds the segment's row lock, as a recompute does. A few statements of
    ``DAYS_PER_STATEMENT`` days each, set-based."""
    last = until or clock.today() - timedelta(days=1)
    with transaction.atomic():
        segment_lock(segment_id)
        first_event = MembershipEvent.objects.filter(segment_id=segment_id).order_by("at").first()
        if first_event is None:
            return BackfillResult(segment_id=segment_id, days_written=0, first_day=None)
        first = max(timezone.localdate(first_event.at), last - timedelta(days=days - 1))
        if first > last:
            return BackfillResult(segment_id=segment_id, days_written=0, first_day=None)
        have = set(
            SegmentSnapshot.objects.filter(
                segment_id=segment_id,
                computed_at__gte=end_of_day(first - timedelta(days=1)),
                computed_at__lt=end_of_day(last),
            )
            .annotate(day=TruncDate("computed_at"))
            .values_list("day", flat=True)
        )
        missing = [
            first + timedelta(days=n)
            for n in range((last - first).days + 1)
            if first + timedelta(days=n) not in have
        ]
        totals: dict[date, tuple[int, Decimal]] = {}
        for start in range(0, len(missing), DAYS_PER_STATEMENT):
            totals.update(_day_totals(segment_id, missing[start : start + DAYS_PER_STATEMENT]))
        SegmentSnapshot.objects.bulk_create(
            SegmentSnapshot(
                segment_id=segment_id,
                computed_at=_backfill_moment(day),
                member_count=totals.get(day, (0, Decimal("0")))[0],
                arr=totals.get(day, (0, Decimal("0")))[1],
                version_id=None,
            )
            for day in missing
        )
    return BackfillResult(segment_id=segment_id, days_written=len(missing), first_day=first)


def _day_totals(segment_id: int, days: list[date]) -> dict[date, tuple[int, Decimal]]:
    """(members, ARR) at the end of each of ``days`` (``segments/sql/snapshot_backfill_days.sql``)."""
    sql = load_sql(
        "segments",
        "snapshot_backfill_days",
        days=", ".join(["(%s, %s)"] * len(days)),
        membership_event=table_name(MembershipEvent),
        contract=table_name(Contract),
        entered=MembershipEventKind.ENTERED.value,
        counts_on_day=contract_counts_on("c", "p.day"),
    )
    params = [value for day in days for value in (date_param(day), moment_param(end_of_day(day)))]
    params += [segment_id, moment_param(end_of_day(days[-1]))]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {
        (day if isinstance(day, date) else date.fromisoformat(day)): (
            int(count),
            to_decimal(arr).quantize(Decimal("0.01")),
        )
        for day, count, arr in rows
    }

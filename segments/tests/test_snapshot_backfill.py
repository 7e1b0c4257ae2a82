"""Growth snapshots rebuilt from membership history (segments.engine.snapshot_backfill)."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from customers.tests.factories import AccountFactory
from segments import analytics
from segments.engine import segment_snapshots_backfill
from segments.models import SegmentSnapshot
from segments.tests.analytics_fixtures import CHURNED, at, contract, member, segment

pytestmark = pytest.mark.django_db


def history_fixture():
    """A segment created today (2026-11-22) over history imported with it:
    A entered 11-10 (ARR 100), B entered 11-12 (ARR 200 until its contract churned 11-15),
    C entered 11-14 and left 11-18 (ARR 50)."""
    seg = segment("Imported", date(2026, 11, 22))
    a, b, c = AccountFactory.create_batch(3)
    contract(a, date(2026, 1, 1), date(2026, 12, 31), 100)
    contract(b, date(2026, 1, 1), date(2026, 11, 15), 200, CHURNED)
    contract(c, date(2026, 1, 1), date(2026, 12, 31), 50)
    member(seg, a, date(2026, 11, 10))
    member(seg, b, date(2026, 11, 12))
    member(seg, c, date(2026, 11, 14), exited=date(2026, 11, 18))
    return seg


def test_backfill_writes_one_snapshot_per_day_from_the_first_event(today):
    # Given a segment whose history began 2026-11-10 and that has no snapshot
    seg = history_fixture()

    # When its snapshots are backfilled up to yesterday
    result = segment_snapshots_backfill(segment_id=seg.pk)

    # Then every day from 11-10 to 11-21 has one, with the members and their ARR that day
    assert result.first_day == date(2026, 11, 10) and result.days_written == 12
    growth = analytics.segment_growth(segment_ids=[seg.pk], as_of=today)[seg.pk]
    by_day = {p.day: (p.member_count, p.arr) for p in growth}
    assert by_day[date(2026, 11, 10)] == (1, Decimal("100.00"))
    assert by_day[date(2026, 11, 12)] == (2, Decimal("300.00"))
    assert by_day[date(2026, 11, 14)] == (3, Decimal("350.00"))
    # B's contract churned at the end of 11-15: 0 ARR on 11-16, still a member
    assert by_day[date(2026, 11, 16)] == (3, Decimal("150.00"))
    # C left on 11-18
    assert by_day[date(2026, 11, 18)] == (2, Decimal("100.00"))
    assert len(growth) == 12


def test_backfill_is_idempotent_and_keeps_real_snapshots(today):
    # Given a recompute's snapshot on 11-15
    seg = history_fixture()
    real = SegmentSnapshot.objects.create(
        segment=seg, computed_at=at(date(2026, 11, 15), 9), member_count=42, arr=Decimal(1)
    )

    # When backfilled twice
    first = segment_snapshots_backfill(segment_id=seg.pk)
    second = segment_snapshots_backfill(segment_id=seg.pk)

    # Then the day with a snapshot was skipped and the second run wrote nothing
    assert (first.days_written, second.days_written) == (11, 0)
    assert SegmentSnapshot.objects.filter(segment=seg).count() == 12
    real.refresh_from_db()
    assert real.member_count == 42


def test_a_segment_without_events_gets_no_snapshot(today):
    seg = segment("Empty", date(2026, 1, 1))
    result = segment_snapshots_backfill(segment_id=seg.pk)
    assert result.days_written == 0 and not SegmentSnapshot.objects.exists()


def test_the_command_backfills_and_refuses_unknown_segments(today):
    seg = history_fixture()
    out = StringIO()
    call_command("segments_backfill_snapshots", seg.slug, stdout=out)
    assert "imported: 12 days written from 2026-11-10" in out.getvalue()
    with pytest.raises(CommandError, match="do not exist"):
        call_command("segments_backfill_snapshots", "nope")

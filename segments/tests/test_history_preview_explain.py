"""Membership on a past date, preview of a draft, explain, selectors."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Account
from segments import selectors, services
from segments.models import ExclusiveGroup, MembershipEvent

from .engine_fixtures import ARR_100K, account, member_ids, published, recompute

pytestmark = pytest.mark.django_db


def at(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


def test_members_at_a_past_date_come_from_events(today):
    # given a history: a enters on day 1, exits on day 3; b enters on day 2; c enters and
    # exits on day 2 (so c was not a member at the end of day 2)
    a, b, c = account(), account(), account()
    segment = published("Big", ARR_100K)
    d1, d2, d3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
    events = [
        (a, "entered", at(d1)),
        (b, "entered", at(d2, 9)),
        (c, "entered", at(d2, 10)),
        (c, "exited", at(d2, 23)),
        (a, "exited", at(d3)),
    ]
    MembershipEvent.objects.bulk_create(
        MembershipEvent(segment=segment, account=acc, kind=kind, at=when)
        for acc, kind, when in events
    )

    def members(day: date) -> set[int]:
        return set(
            selectors.segment_members_at(segment=segment, day=day).values_list("id", flat=True)
        )

    # then members at the end of each date follow the last event per account
    assert members(d1 - timedelta(days=1)) == set()
    assert members(d1) == {a.pk}
    assert members(d2) == {a.pk, b.pk}
    assert members(d3) == {b.pk}
    row = selectors.segment_members_at(segment=segment, day=d2).get(pk=b.pk)
    assert row.entered_at == at(d2, 9)


def test_members_at_today_matches_current_membership_after_recompute(today):
    account(arr=150000), account(arr=120000), account(arr=5)
    segment = published("Big", ARR_100K)
    recompute(segment)
    # the recompute's events carry the real time, so "today" here is the real date
    day = timezone.localdate()
    at_today = set(
        selectors.segment_members_at(segment=segment, day=day).values_list("id", flat=True)
    )
    assert at_today == member_ids(segment)


def test_preview_counts_arr_and_diff_against_current_membership(today):
    # given a segment "arr >= 100k" recomputed, and a draft "arr >= 60k and < 200k"
    stays, leaves, enters = account(arr=150000), account(arr=300000), account(arr=70000)
    account(arr=10)
    segment = published("Big", ARR_100K)
    recompute(segment)
    draft = services.version_create_draft(
        segment=segment,
        rule={"field": "arr", "op": "between", "value": [60000, 199999]},
    )

    # when the draft is previewed
    preview = selectors.version_preview(version=draft)

    # then counts and ARR are the draft's; entering/exiting are against current members
    assert preview.count == 2
    assert preview.arr == Decimal("220000.00")
    assert (preview.entering_count, preview.exiting_count) == (1, 1)
    assert [a.pk for a in preview.entering] == [enters.pk]
    assert [a.pk for a in preview.exiting] == [leaves.pk]
    assert {a.pk for a in preview.sample} == {stays.pk, enters.pk}
    assert set(preview.as_dict()) == {
        "count",
        "arr",
        "entering_count",
        "exiting_count",
        "sample",
        "entering",
        "exiting",
    }
    # the preview wrote nothing
    assert member_ids(segment) == {stays.pk, leaves.pk}


def test_explain_shows_each_clause_with_actual_values(today):
    acc = account(arr=120000, plan="pro")
    segment = published(
        "Big enterprise",
        {"all": [ARR_100K, {"field": "plan", "op": "eq", "value": "enterprise"}]},
    )
    recompute(segment)

    explained = selectors.account_explain(account=acc, version=segment.current_version)

    assert explained["segment"] == segment.pk
    assert explained["version"] == 1
    assert explained["account"] == acc.pk
    assert explained["matched"] is False
    assert explained["member"] is False
    leaves = explained["explanation"]["all"]
    assert leaves[0]["matched"] is True
    assert leaves[1]["matched"] is False
    assert leaves[1]["actual"] == "pro"
    assert explained["explanation"]["matched"] is False


def test_explain_says_when_rank_or_exclusive_group_keeps_a_match_out(today):
    group = ExclusiveGroup.objects.create(name="Tiers")
    leader, runner_up = account(arr=500000), account(arr=400000)
    top = published("Top 1", ARR_100K, rank_by="arr", rank_limit=1)
    ent = published("Ent", ARR_100K, exclusive_group=group, priority=1)
    mid = published("Mid", ARR_100K, exclusive_group=group, priority=2)
    for s in (top, ent, mid):
        recompute(s)

    ranked = selectors.account_explain(account=runner_up, version=top.current_version)
    assert ranked["matched"] is True
    assert ranked["admitted"] is False
    assert ranked["ranking"]["excluded_by_rank"] is True

    claimed = selectors.account_explain(account=leader, version=mid.current_version)
    assert claimed["matched"] is True
    assert claimed["member"] is False
    assert claimed["exclusive_group"]["claimed_by"]["id"] == ent.pk


def test_selectors_members_events_and_account_segments(today, django_assert_num_queries):
    a, b = account(arr=150000), account(arr=200000)
    segment = published("Big", ARR_100K)
    other = published("Everyone", {"all": []})
    recompute(segment)
    recompute(other)
    Account.objects.filter(pk=a.pk).update(arr=Decimal("0"))
    recompute(segment)

    with django_assert_num_queries(1):
        members = list(selectors.segment_members(segment=segment))
        assert [(m.pk, m.entered_at is not None, m.owner) for m in members] == [(b.pk, True, None)]
    with django_assert_num_queries(1):
        events = [
            (e.account.pk, e.kind, e.version.number)
            for e in selectors.segment_events(segment=segment)
        ]
    assert events[0] == (a.pk, "exited", 1)
    assert len(events) == 3
    future = timezone.now() + timedelta(days=1)
    assert not selectors.segment_events(segment=segment, since=future).exists()
    assert {s.pk for s in selectors.account_segments(account=a)} == {other.pk}
    assert {s.pk for s in selectors.account_segments(account=b)} == {segment.pk, other.pk}

"""Set-based recompute: diff, events, snapshots, idempotency, ranking, exclusive groups,
version guard."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from segments import services
from segments.models import (
    ExclusiveGroup,
    Membership,
    MembershipEvent,
    Segment,
    SegmentSnapshot,
)

from .engine_fixtures import (
    ARR_100K,
    account,
    member_ids,
    memberships_changed_received,
    published,
    recompute,
    row_counts,
)

pytestmark = pytest.mark.django_db


def test_full_recompute_admits_matching_accounts_and_records_events(today):
    # given two big accounts and a small one, and a published segment "arr >= 100k"
    big1, big2 = account(arr=150000), account(arr=100000)
    account(arr=99999)
    segment = published("Big", ARR_100K)

    # when it is recomputed
    result = recompute(segment)

    # then exactly the big accounts are members, with one "entered" event each
    assert result.status == "done"
    assert (result.entered, result.exited) == (2, 0)
    assert member_ids(segment) == {big1.pk, big2.pk}
    events = MembershipEvent.objects.filter(segment=segment)
    assert sorted(events.values_list("account_id", "kind")) == sorted(
        [(big1.pk, "entered"), (big2.pk, "entered")]
    )
    assert set(events.values_list("version_id", flat=True)) == {segment.current_version_id}
    segment.refresh_from_db()
    assert segment.member_count == 2
    assert segment.arr == Decimal("250000.00")
    assert segment.last_computed_at is not None
    snapshot = SegmentSnapshot.objects.get(segment=segment)
    assert (snapshot.member_count, snapshot.arr) == (2, Decimal("250000.00"))


def test_account_that_stops_matching_exits(today):
    # given a member whose ARR drops below the threshold
    big = account(arr=150000)
    segment = published("Big", ARR_100K)
    recompute(segment)
    from customers.models import Account

    Account.objects.filter(pk=big.pk).update(arr=Decimal("10"))

    # when recomputed again
    result = recompute(segment)

    # then it exited: membership deleted, an "exited" event appended, history kept
    assert (result.entered, result.exited) == (0, 1)
    assert member_ids(segment) == set()
    assert list(
        MembershipEvent.objects.filter(segment=segment)
        .order_by("id")
        .values_list("kind", flat=True)
    ) == ["entered", "exited"]


ON_POSTGRESQL = connection.vendor == "postgresql"
MEMBERSHIP_TABLES = ("segments_membership", "segments_membershipevent")


def _recomputed_segment() -> Segment:
    """Given a segment recomputed once over two matching accounts."""
    account(arr=150000)
    account(arr=120000)
    segment = published("Big", ARR_100K)
    recompute(segment)
    return segment


def test_rerun_without_changes_writes_no_membership_rows_or_events(today):
    # given a recomputed segment
    segment = _recomputed_segment()
    before = row_counts()
    memberships = list(Membership.objects.order_by("id").values_list())
    last_event = MembershipEvent.objects.order_by("-id").values_list("id", flat=True).first()

    # when recomputed again with nothing changed
    with CaptureQueriesContext(connection) as queries:
        result = recompute(segment)

    # then no membership or event row is written; only the run's snapshot is recorded
    assert (result.entered, result.exited) == (0, 0)
    after = row_counts()
    assert after["memberships"] == before["memberships"]
    assert after["events"] == before["events"]
    assert after["snapshots"] == before["snapshots"] + 1
    assert list(Membership.objects.order_by("id").values_list()) == memberships
    assert MembershipEvent.objects.order_by("-id").values_list("id", flat=True).first() == (
        last_event
    )
    # a bounded number of statements whatever the number of accounts
    assert len(queries.captured_queries) <= 16


@pytest.mark.skipif(
    not ON_POSTGRESQL,
    reason="reads PostgreSQL's per-transaction row statistics (pg_stat_xact_user_tables); "
    "on SQLite the diff runs no write statement at all, checked by the test below",
)
def test_rerun_without_changes_writes_no_row_in_the_diff_statement(today):
    # given a recomputed segment (on PostgreSQL the diff and its writes are one statement)
    segment = _recomputed_segment()
    written_before = _rows_written_postgresql()

    # when recomputed again with nothing changed
    recompute(segment)

    # then the statement's inserts and delete wrote no row (not even one rewritten)
    assert _rows_written_postgresql() == written_before
    assert set(written_before) == set(MEMBERSHIP_TABLES)


@pytest.mark.skipif(
    ON_POSTGRESQL,
    reason="on PostgreSQL the diff and its writes are one statement, which always runs; "
    "the test above counts its written rows instead",
)
def test_rerun_without_changes_runs_no_write_statement(today):
    # given a recomputed segment (on SQLite the diff goes to a temporary table first)
    segment = _recomputed_segment()

    # when recomputed again with nothing changed
    with CaptureQueriesContext(connection) as queries:
        recompute(segment)

    # then no statement inserts, updates or deletes memberships or events
    writes = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and any(table in query["sql"] for table in MEMBERSHIP_TABLES)
    ]
    assert writes == []


def _rows_written_postgresql() -> dict[str, int]:
    """Rows inserted + updated + deleted in the membership tables by the current
    transaction so far (PostgreSQL's per-transaction statistics)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables "
            "WHERE relname = ANY(%s)",
            [list(MEMBERSHIP_TABLES)],
        )
        return dict(cursor.fetchall())


def test_publishing_a_new_version_moves_members_and_tags_events_with_it(today):
    # given a segment recomputed under version 1
    big, mid = account(arr=150000), account(arr=60000)
    segment = published("Big", ARR_100K)
    recompute(segment)

    # when version 2 ("arr >= 50k") is published and recomputed
    v2 = services.version_create_draft(
        segment=segment, rule={"field": "arr", "op": "gte", "value": 50000}
    )
    services.version_publish(version=v2)
    result = recompute(segment, version_id=v2.pk)

    # then the mid account entered under v2 and the big one kept its v1 membership
    assert (result.entered, result.exited) == (1, 0)
    memberships = dict(
        Membership.objects.filter(segment=segment).values_list("account_id", "version__number")
    )
    assert memberships == {big.pk: 1, mid.pk: 2}


def test_version_guard_stale_run_writes_nothing(today):
    # given version 2 published after a recompute for version 1 was queued
    account(arr=150000)
    segment = published("Big", ARR_100K)
    v1_id = segment.current_version_id
    v2 = services.version_create_draft(segment=segment, rule={"any": []})
    services.version_publish(version=v2)
    before = row_counts()

    # when the stale task for version 1 runs
    result = recompute(segment, version_id=v1_id)

    # then it exits without writing anything
    assert result.status == "stale_version"
    assert row_counts() == before


def test_ranking_takes_top_n_with_ties_by_account_id(today):
    # given five matching accounts, three tied at the top ARR
    tied = [account(arr=200000) for _ in range(3)]
    lower = account(arr=150000)
    account(arr=100000)
    account(arr=50)  # not matching
    segment = published("Top 4", ARR_100K, rank_by="arr", rank_limit=4)

    # when recomputed
    recompute(segment)

    # then the top 4 by ARR are members; ties broken by account id ascending
    assert member_ids(segment) == {*(a.pk for a in tied), lower.pk}
    segment2 = published("Top 2", ARR_100K, rank_by="arr", rank_limit=2)
    recompute(segment2)
    assert member_ids(segment2) == {tied[0].pk, tied[1].pk}


def test_exclusive_group_account_goes_to_lowest_priority_number(today):
    # given tiers Enterprise (1) > Mid-Market (2) > SMB (3) in one exclusive group
    group = ExclusiveGroup.objects.create(name="Tiers")
    ent_acc, mm_acc, smb_acc = account(arr=500000), account(arr=80000), account(arr=5000)
    smb = published(
        "SMB", {"field": "arr", "op": "gte", "value": 0}, exclusive_group=group, priority=3
    )
    mid = published(
        "Mid-Market",
        {"field": "arr", "op": "gte", "value": 50000},
        exclusive_group=group,
        priority=2,
    )
    ent = published(
        "Enterprise",
        {"field": "arr", "op": "gte", "value": 250000},
        exclusive_group=group,
        priority=1,
    )

    # when the group is recomputed in any order
    for segment in (smb, mid, ent):
        recompute(segment)

    # then each account is in exactly one tier: the matching one with the lowest number
    assert member_ids(ent) == {ent_acc.pk}
    assert member_ids(mid) == {mm_acc.pk}
    assert member_ids(smb) == {smb_acc.pk}


def test_exclusive_group_under_a_ranked_higher_segment(today):
    # given a ranked top-1 segment above a catch-all in one group
    group = ExclusiveGroup.objects.create(name="Focus")
    first, second = account(arr=300000), account(arr=200000)
    top = published(
        "Top 1", ARR_100K, rank_by="arr", rank_limit=1, exclusive_group=group, priority=1
    )
    rest = published("Rest", ARR_100K, exclusive_group=group, priority=2)

    # when both are recomputed
    recompute(rest)
    recompute(top)

    # then the account outside the top 1 falls through to the next segment
    assert member_ids(top) == {first.pk}
    assert member_ids(rest) == {second.pk}


def test_partial_recompute_touches_only_given_accounts(today):
    # given a member and a non-member whose data both changed without re-evaluation
    from customers.models import Account

    a, b = account(arr=150000), account(arr=10)
    segment = published("Big", ARR_100K)
    recompute(segment)
    Account.objects.filter(pk=a.pk).update(arr=Decimal("1"))
    Account.objects.filter(pk=b.pk).update(arr=Decimal("900000"))

    # when only b is re-evaluated
    result = recompute(segment, account_ids=[b.pk])

    # then b entered and a (not evaluated) is still a member
    assert (result.entered, result.exited, result.full) == (1, 0, False)
    assert member_ids(segment) == {a.pk, b.pk}


def test_inactive_segment_keeps_membership_frozen(today):
    account(arr=150000)
    segment = published("Big", ARR_100K)
    recompute(segment)
    services.segment_update(segment=segment, data={"is_active": False})
    account(arr=170000)
    before = row_counts()

    result = recompute(segment)

    assert result.status == "inactive"
    assert row_counts() == before


def test_memberships_changed_is_sent_after_commit_with_event_ids(
    today, django_capture_on_commit_callbacks
):
    account(arr=150000)
    segment = published("Big", ARR_100K)
    with memberships_changed_received() as received:
        with django_capture_on_commit_callbacks(execute=True):
            recompute(segment)
        with django_capture_on_commit_callbacks(execute=True):
            recompute(segment)  # nothing changed: no signal

    assert len(received) == 1
    ids = list(MembershipEvent.objects.filter(segment=segment).values_list("id", flat=True))
    assert received[0]["segment_id"] == segment.pk
    assert received[0]["event_ids"] == ids
    assert received[0]["event_count"] == 1

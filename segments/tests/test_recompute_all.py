"""The schedule's recompute of every segment: the unranked dynamic segments together in
one pass over the accounts, ranked and static ones on their own. It must leave exactly
what a recompute of each segment would."""

import random
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from customers import services as customer_services
from customers.models import Account, AttributeDefinition
from customers.selectors import account_ids_pending_evaluation
from customers.tests.factories import UserFactory
from segments import engine, services
from segments.engine import work_tables
from segments.models import (
    Membership,
    MembershipEvent,
    Segment,
    SegmentKind,
    SegmentSnapshot,
)
from tests.concurrency import run_while_held

from .engine_fixtures import (
    ARR_100K,
    account,
    member_ids,
    memberships_changed_received,
    mixed_segments,
    published,
    recompute,
    row_counts,
)

pytestmark = pytest.mark.django_db

ARRS = [0, 5000, 60000, 120000, 400000]
PLANS = ["free", "pro", "enterprise", None]
HEALTH = [None, 20, 55, 90]


def randomize(accounts: list[Account], rng: random.Random) -> None:
    for acc in accounts:
        Account.objects.filter(pk=acc.pk).update(
            arr=Decimal(rng.choice(ARRS)),
            plan=rng.choice(PLANS),
            health_score=rng.choice(HEALTH),
        )


def assert_each_recompute_finds_nothing_to_do(segments: list[Segment]) -> None:
    """A recompute of each segment on its own writes nothing, and the stored count and
    ARR are those of the stored members."""
    for segment in segments:
        count, arr = segment.member_count, segment.arr
        run = recompute(segment)
        assert (run.entered, run.exited) == (0, 0), segment.name
        members = Account.objects.filter(pk__in=member_ids(segment))
        assert count == run.member_count == members.count(), segment.name
        assert arr == run.arr == (members.aggregate(s=Sum("arr"))["s"] or 0), segment.name


def test_recompute_all_leaves_what_each_segment_recompute_would(today):
    # given accounts with random data and a mix of segments, never computed
    rng = random.Random(11)
    owner = UserFactory(username="csm-all")
    accounts = [
        account(
            arr=rng.choice(ARRS),
            plan=rng.choice(PLANS),
            health_score=rng.choice(HEALTH),
            owner=rng.choice([None, owner]),
        )
        for _ in range(40)
    ]
    segments = mixed_segments(csm="csm-all")

    # when every segment is recomputed at once, twice with the data changing in between
    first = engine.segments_recompute_all()
    assert first.segments == len(segments)
    assert set(first.one_by_one) == {segments[0].pk, segments[-1].pk}  # the ranked ones
    assert first.entered > 0
    for segment in segments:
        segment.refresh_from_db()
    assert_each_recompute_finds_nothing_to_do(segments)

    randomize(accounts, rng)
    second = engine.segments_recompute_all()
    assert second.entered and second.exited
    for segment in segments:
        segment.refresh_from_db()

    # then each segment holds what its own recompute computes, with its totals
    assert_each_recompute_finds_nothing_to_do(segments)
    # and every membership has its entry event, of the segment's current version
    for segment in segments:
        last_kind = {}
        for account_id, kind, version_id in (
            MembershipEvent.objects.filter(segment=segment)
            .order_by("at", "id")
            .values_list("account_id", "kind", "version_id")
        ):
            last_kind[account_id] = kind
            assert version_id == segment.current_version_id
        entered = {a for a, kind in last_kind.items() if kind == "entered"}
        assert entered == member_ids(segment), segment.name


def test_a_second_run_writes_no_membership_and_no_event_only_snapshots(today):
    # given a computed mix of segments
    for arr in ARRS:
        account(arr=arr, plan="pro", health_score=55)
    segments = mixed_segments(csm="csm-all")
    engine.segments_recompute_all()
    before = row_counts()

    # when nothing changed and every segment is recomputed again
    again = engine.segments_recompute_all()

    # then no membership and no event was written; each segment has one more snapshot
    assert (again.entered, again.exited) == (0, 0)
    assert row_counts() == {**before, "snapshots": before["snapshots"] + len(segments)}


def test_snapshots_and_totals_of_a_run(today):
    # given two big accounts and one small
    big = [account(arr=150000), account(arr=250000)]
    account(arr=10)
    segment = published("Big", ARR_100K)

    engine.segments_recompute_all()

    segment.refresh_from_db()
    assert (segment.member_count, segment.arr) == (2, Decimal("400000"))
    assert segment.last_computed_at is not None
    snapshot = SegmentSnapshot.objects.get(segment=segment)
    assert (snapshot.member_count, snapshot.arr) == (2, Decimal("400000"))
    assert snapshot.version_id == segment.current_version_id
    assert member_ids(segment) == {a.pk for a in big}


def test_inactive_static_and_invalid_segments_keep_their_members(today):
    # given a static segment with a hand-picked member, an inactive segment, and a
    # segment on a custom attribute that was deleted after publishing
    AttributeDefinition.objects.create(key="nps", label="NPS", type="integer")
    picked = account(arr=10, traits={"nps": 9})
    big = account(arr=150000, traits={"nps": 9})
    static = services.segment_create(name="Hand-picked", kind=SegmentKind.STATIC, publish=True)
    services.static_segment_members_add(segment=static, account_ids=[picked.pk])
    promoters = published("Promoters", {"field": "traits.nps", "op": "gte", "value": 9})
    paused = published("Paused", ARR_100K)
    recompute(promoters), recompute(paused)
    Segment.objects.filter(pk=paused.pk).update(is_active=False)
    Account.objects.filter(pk=big.pk).update(arr=Decimal("5"))
    AttributeDefinition.objects.filter(key="nps").delete()
    healthy = published("Everyone", {"all": []})
    frozen_snapshots = SegmentSnapshot.objects.filter(segment__in=[paused, promoters]).count()

    # when every segment is recomputed
    result = engine.segments_recompute_all()

    # then the static segment kept its member (and got its totals), the inactive and the
    # invalid segments were left as they were, and the rest proceeded
    assert member_ids(static) == {picked.pk}
    assert static.pk in result.one_by_one
    assert SegmentSnapshot.objects.filter(segment=static).exists()
    assert member_ids(paused) == {big.pk}
    assert member_ids(promoters) == {picked.pk, big.pk}
    assert SegmentSnapshot.objects.filter(segment__in=[paused, promoters]).count() == (
        frozen_snapshots
    )
    assert member_ids(healthy) == {picked.pk, big.pk}


def test_memberships_changed_is_sent_for_each_changed_segment(
    today, django_capture_on_commit_callbacks
):
    # given two segments that gain members and one that stays empty
    a, b = account(arr=150000), account(arr=20)
    big = published("Big", ARR_100K)
    everyone = published("Everyone", {"all": []})
    published("Nobody", {"field": "arr", "op": "gte", "value": 10**9})
    with memberships_changed_received() as received:
        with django_capture_on_commit_callbacks(execute=True):
            engine.segments_recompute_all()
        with django_capture_on_commit_callbacks(execute=True):
            engine.segments_recompute_all()  # nothing changed: no signal

    by_segment = {r["segment_id"]: r for r in received}
    assert len(received) == 2 and set(by_segment) == {big.pk, everyone.pk}
    for segment, members in ((big, [a]), (everyone, [a, b])):
        ids = sorted(MembershipEvent.objects.filter(segment=segment).values_list("id", flat=True))
        assert by_segment[segment.pk]["event_ids"] == ids
        assert by_segment[segment.pk]["event_count"] == len(members)


def test_a_member_whose_account_row_is_gone_leaves(today):
    # given a stored membership pointing to an account that no longer exists (the
    # membership's account is not a database constraint)
    acc = account(arr=150000)
    segment = published("Big", ARR_100K)
    engine.segments_recompute_all()
    Membership.objects.filter(segment=segment).update(account_id=acc.pk + 10_000)

    # when every segment is recomputed, then the orphan left and the real account entered
    result = engine.segments_recompute_all()
    assert (result.entered, result.exited) == (1, 1)
    assert member_ids(segment) == {acc.pk}


def test_many_events_are_signalled_by_their_id_range(
    today, monkeypatch, django_capture_on_commit_callbacks
):
    # given a limit of one event id per signal, a segment gaining two members and one
    # gaining a single member
    monkeypatch.setattr(engine.events, "SIGNAL_EVENT_IDS_LIMIT", 1)
    account(arr=150000), account(arr=20)
    everyone = published("Everyone", {"all": []})
    big = published("Big", ARR_100K)
    with (
        memberships_changed_received() as received,
        django_capture_on_commit_callbacks(execute=True),
    ):
        engine.segments_recompute_all()

    # then the big write carries its id range only, the small one its ids
    by_segment = {r["segment_id"]: r for r in received}
    ids = sorted(MembershipEvent.objects.filter(segment=everyone).values_list("id", flat=True))
    assert by_segment[everyone.pk]["event_ids"] is None
    assert by_segment[everyone.pk]["event_id_range"] == (ids[0], ids[-1])
    assert by_segment[everyone.pk]["event_count"] == 2
    (big_id,) = MembershipEvent.objects.filter(segment=big).values_list("id", flat=True)
    assert by_segment[big.pk]["event_ids"] == [big_id]
    assert by_segment[big.pk]["event_id_range"] == (big_id, big_id)


HOLD_SECONDS = 1.0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks: SQLite serializes all writes anyway"
)
def test_a_sweep_during_a_recompute_of_every_segment_waits_for_it(today):
    # given a computed segment, and an account that has since grown and is marked
    member, grower = account(arr=150000), account(arr=10)
    segment = published("Big", ARR_100K)
    engine.segments_recompute_all()
    Account.objects.filter(pk=grower.pk).update(arr=Decimal("500000"))
    customer_services.accounts_mark_changed(account_ids=[grower.pk])

    # when a sweep starts while a range of the recompute of every segment runs (separate
    # connections; the range holds its share locks for HOLD_SECONDS after its evaluation)
    results = run_while_held(
        holder=engine.segments_recompute_all,
        hold_after=f"CREATE TEMPORARY TABLE {work_tables.BITS_TABLE}",
        other=engine.segments_evaluate_changed_accounts,
        hold_seconds=HOLD_SECONDS,
    )

    # then the sweep waited for the range's locks, found the account already moved
    # (the recompute read every account), and only deleted its mark: one entry event
    assert results["errors"] == []
    assert (results["holder"].entered, results["holder"].exited) == (1, 0)
    assert results["other_seconds"] >= HOLD_SECONDS * 0.5
    assert (results["other"].accounts, results["other"].entered) == (1, 0)
    assert member_ids(segment) == {member.pk, grower.pk}
    assert MembershipEvent.objects.filter(segment=segment, account=grower).count() == 1
    assert not account_ids_pending_evaluation().exists()

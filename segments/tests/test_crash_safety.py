"""A recompute that dies half-way leaves the old membership, events and totals intact, and
the next run applies the change once."""

import pytest
from django.db import DatabaseError

from customers.models import Account
from segments.models import Membership, MembershipEvent, Segment
from tests.crash import inserts_fail

from .engine_fixtures import ARR_100K, account, member_ids, published, recompute, row_counts

pytestmark = pytest.mark.django_db


def test_a_crash_mid_recompute_keeps_the_old_membership(today):
    # Given a segment with members a and b
    a, b, c = account(arr=150000), account(arr=120000), account(arr=10)
    segment = published("Big", ARR_100K)
    recompute(segment)
    assert member_ids(segment) == {a.pk, b.pk}
    before = row_counts()
    stored = Segment.objects.values("member_count", "arr", "last_computed_at").get(pk=segment.pk)

    # When b stops matching and c starts, and the run dies when it inserts the newcomers
    # (after its events and the leavers' delete have been written)
    Account.objects.filter(pk=b.pk).update(arr=5)
    Account.objects.filter(pk=c.pk).update(arr=500000)
    with inserts_fail(Membership._meta.db_table), pytest.raises(DatabaseError):
        recompute(segment)

    # Then nothing of the run is visible: old members, events, snapshots and totals
    assert member_ids(segment) == {a.pk, b.pk}
    assert row_counts() == before
    assert (
        Segment.objects.values("member_count", "arr", "last_computed_at").get(pk=segment.pk)
        == stored
    )

    # And the retry applies the change exactly once
    retried = recompute(segment)
    assert (retried.entered, retried.exited) == (1, 1)
    assert member_ids(segment) == {a.pk, c.pk}
    kinds = MembershipEvent.objects.filter(segment=segment).values_list("account_id", "kind")
    assert sorted(kinds) == sorted(
        [(a.pk, "entered"), (b.pk, "entered"), (b.pk, "exited"), (c.pk, "entered")]
    )

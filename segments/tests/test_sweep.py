"""The changed-accounts sweep re-evaluates only flagged accounts, in bounded batches,
and clears their flags."""

from decimal import Decimal

import pytest

from customers.models import Account
from segments import services

from .engine_fixtures import ARR_100K, account, member_ids, published, recompute

pytestmark = pytest.mark.django_db


def flag(*accounts: Account) -> None:
    Account.objects.filter(pk__in=[a.pk for a in accounts]).update(needs_segment_eval=True)


def test_sweep_reevaluates_only_flagged_accounts_and_clears_flags(today):
    # given a recomputed segment, then two accounts whose ARR changed: only one is flagged
    flagged, unflagged = account(arr=10), account(arr=10)
    segment = published("Big", ARR_100K)
    recompute(segment)
    Account.objects.filter(pk__in=[flagged.pk, unflagged.pk]).update(arr=Decimal("500000"))
    flag(flagged)

    # when the sweep runs
    result = services.segments_evaluate_changed_accounts()

    # then only the flagged account entered, and no account is flagged any more
    assert (result.accounts, result.entered, result.exited) == (1, 1, 0)
    assert member_ids(segment) == {flagged.pk}
    assert not Account.objects.filter(needs_segment_eval=True).exists()


def test_sweep_works_in_bounded_batches(today):
    # given five flagged matching accounts and a batch size of two
    accounts = [account(arr=200000) for _ in range(5)]
    segment = published("Big", ARR_100K)
    flag(*accounts)

    # when the sweep may run two batches only
    result = services.segments_evaluate_changed_accounts(batch_size=2, max_batches=2)

    # then four accounts were handled, and the sweep says more remain
    assert (result.accounts, result.batches, result.remaining) == (4, 2, True)
    assert len(member_ids(segment)) == 4
    assert Account.objects.filter(needs_segment_eval=True).count() == 1

    # and the next run finishes the job
    again = services.segments_evaluate_changed_accounts(batch_size=2)
    assert (again.accounts, again.remaining) == (1, False)
    assert member_ids(segment) == {a.pk for a in accounts}


def test_sweep_with_nothing_flagged_writes_nothing(today, django_assert_max_num_queries):
    published("Big", ARR_100K)
    with django_assert_max_num_queries(6):
        result = services.segments_evaluate_changed_accounts()
    assert result.accounts == 0


def test_sweep_recomputes_ranked_segments_in_full(today):
    # given a top-1 segment, and an unflagged member overtaken by a flagged account
    first, challenger = account(arr=300000), account(arr=200000)
    top = published("Top 1", ARR_100K, rank_by="arr", rank_limit=1)
    recompute(top)
    Account.objects.filter(pk=challenger.pk).update(arr=Decimal("900000"))
    flag(challenger)

    # when the sweep runs
    result = services.segments_evaluate_changed_accounts()

    # then the ranked segment was recomputed in full: the challenger replaced the leader
    assert result.ranked_recomputed == [top.pk]
    assert member_ids(top) == {challenger.pk}
    assert first.pk not in member_ids(top)


def test_account_service_change_flags_and_sweep_moves_membership(today):
    from customers import services as customer_services

    acc = account(arr=0, plan="starter")
    segment = published("Enterprise plan", {"field": "plan", "op": "eq", "value": "enterprise"})
    recompute(segment)
    customer_services.account_update(account=acc, data={"plan": "enterprise"})

    services.segments_evaluate_changed_accounts()

    assert member_ids(segment) == {acc.pk}

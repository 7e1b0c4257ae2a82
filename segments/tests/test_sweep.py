"""The changed-accounts sweep re-evaluates only the accounts marked for it, in bounded
batches, and deletes their marks."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from cs_platform.models import OutboxMessage, OutboxState
from customers import services as customer_services
from customers.models import Account
from customers.selectors import account_ids_pending_evaluation
from customers.tests.factories import CSMFactory
from segments import engine
from segments.engine import work_tables
from tests.concurrency import run_while_held

from .engine_fixtures import (
    ARR_100K,
    account,
    member_ids,
    mixed_segments,
    published,
    recompute,
)

pytestmark = pytest.mark.django_db


def flag(*accounts: Account) -> None:
    customer_services.accounts_mark_changed(account_ids=[a.pk for a in accounts])


def test_sweep_reevaluates_only_flagged_accounts_and_deletes_their_marks(today):
    # given a recomputed segment, then two accounts whose ARR changed: only one is flagged
    flagged, unflagged = account(arr=10), account(arr=10)
    segment = published("Big", ARR_100K)
    recompute(segment)
    Account.objects.filter(pk__in=[flagged.pk, unflagged.pk]).update(arr=Decimal("500000"))
    flag(flagged)

    # when the sweep runs
    result = engine.segments_evaluate_changed_accounts()

    # then only the flagged account entered, and no account is flagged any more
    assert (result.accounts, result.entered, result.exited) == (1, 1, 0)
    assert member_ids(segment) == {flagged.pk}
    assert not account_ids_pending_evaluation().exists()


def test_sweep_works_in_bounded_batches(today):
    # given five flagged matching accounts and a batch size of two
    accounts = [account(arr=200000) for _ in range(5)]
    segment = published("Big", ARR_100K)
    flag(*accounts)

    # when the sweep may run two batches only
    result = engine.segments_evaluate_changed_accounts(batch_size=2, max_batches=2)

    # then four accounts were handled, and the sweep says more remain
    assert (result.accounts, result.batches, result.remaining) == (4, 2, True)
    assert len(member_ids(segment)) == 4
    assert list(account_ids_pending_evaluation()) == [accounts[-1].pk]

    # and the next run finishes the job
    again = engine.segments_evaluate_changed_accounts(batch_size=2)
    assert (again.accounts, again.remaining) == (1, False)
    assert member_ids(segment) == {a.pk for a in accounts}


def test_sweep_with_nothing_flagged_writes_nothing(today, django_assert_max_num_queries):
    published("Big", ARR_100K)
    with django_assert_max_num_queries(8):
        result = engine.segments_evaluate_changed_accounts()
    assert result.accounts == 0


def test_sweep_updates_a_ranked_segment_from_the_batch_when_provably_exact(today):
    # given a top-2 segment, and a flagged account overtaking its unflagged members
    first, second = account(arr=300000), account(arr=250000)
    challenger = account(arr=200000)
    top = published("Top 2", ARR_100K, rank_by="arr", rank_limit=2)
    recompute(top)
    Account.objects.filter(pk=challenger.pk).update(arr=Decimal("900000"))
    flag(challenger)

    # when the sweep runs
    result = engine.segments_evaluate_changed_accounts()

    # then the challenger replaced the second without a full recompute (the lowest
    # unflagged member is still in the top 2 among batch + members, so it is exact)
    assert result.ranked_recomputed == []
    assert (result.entered, result.exited) == (1, 1)
    assert member_ids(top) == {challenger.pk, first.pk}
    assert second.pk not in member_ids(top)
    top.refresh_from_db()
    assert top.member_count == 2


def test_sweep_recomputes_a_ranked_segment_in_full_when_a_member_drops(
    today, eager_tasks, django_capture_on_commit_callbacks
):
    # given a top-1 segment whose flagged leader falls below an unflagged non-member
    leader, runner_up = account(arr=300000), account(arr=200000)
    top = published("Top 1", ARR_100K, rank_by="arr", rank_limit=1)
    recompute(top)
    Account.objects.filter(pk=leader.pk).update(arr=Decimal("150000"))
    flag(leader)

    # when the sweep runs (and the work it recorded runs after its commit)
    with django_capture_on_commit_callbacks(execute=True):
        result = engine.segments_evaluate_changed_accounts()

    # then the batch alone cannot tell who is next: a full recompute finds the runner-up
    assert result.ranked_recomputed == [top.pk]
    assert member_ids(top) == {runner_up.pk}


def test_the_full_recompute_a_batch_calls_for_is_recorded_in_the_batch(today):
    # given a top-1 segment whose flagged leader falls below an unflagged non-member
    leader, runner_up = account(arr=300000), account(arr=200000)
    top = published("Top 1", ARR_100K, rank_by="arr", rank_limit=1)
    recompute(top)
    Account.objects.filter(pk=leader.pk).update(arr=Decimal("150000"))
    flag(leader)

    # when the sweep's batch commits and the worker dies before anything else runs
    # (no on-commit callback, no work after the batches)
    result = engine.segments_evaluate_changed_accounts()

    # then the marks are gone but the full recompute is an outbox row of the batch's
    # transaction, which the relay sends (chaos: it was lost with the worker)
    assert result.ranked_recomputed == [top.pk]
    assert not account_ids_pending_evaluation().exists()
    queued = OutboxMessage.objects.filter(task="segments.recompute", state=OutboxState.QUEUED)
    assert [top.pk, None] in [row.args for row in queued]
    assert member_ids(top) == {leader.pk}  # until that recompute runs
    assert runner_up.pk not in member_ids(top)


def test_account_service_change_flags_and_sweep_moves_membership(today):
    from customers import services as customer_services

    acc = account(arr=0, plan="starter")
    segment = published("Enterprise plan", {"field": "plan", "op": "eq", "value": "enterprise"})
    recompute(segment)
    customer_services.account_update(account=acc, data={"plan": "enterprise"})

    engine.segments_evaluate_changed_accounts()

    assert member_ids(segment) == {acc.pk}


def test_sweep_moves_accounts_between_exclusive_tiers(today):
    from segments.models import ExclusiveGroup

    # given tiers Enterprise (1) > SMB (2) and an SMB account that grows
    group = ExclusiveGroup.objects.create(name="Tiers")
    grower = account(arr=1000)
    ent = published(
        "Ent", {"field": "arr", "op": "gte", "value": 250000}, exclusive_group=group, priority=1
    )
    smb = published(
        "SMB", {"field": "arr", "op": "gte", "value": 0}, exclusive_group=group, priority=2
    )
    recompute(ent), recompute(smb)
    assert member_ids(smb) == {grower.pk}
    Account.objects.filter(pk=grower.pk).update(arr=Decimal("300000"))
    flag(grower)

    # when the sweep runs, then it left SMB and entered Enterprise in the same batch
    result = engine.segments_evaluate_changed_accounts()
    assert (result.entered, result.exited) == (1, 1)
    assert member_ids(ent) == {grower.pk}
    assert member_ids(smb) == set()
    smb.refresh_from_db()
    assert smb.member_count == 0


def test_sweep_agrees_with_a_full_recompute(today, eager_tasks, django_capture_on_commit_callbacks):
    """Given many segments (``mixed_segments``: null-sensitive rules, NOT, OR, CSM,
    exclusive group with a ranked head, a ranked segment) and accounts whose data all
    change, sweeping every account leaves exactly the membership a full recompute
    computes: the full recompute afterwards writes nothing."""
    import random

    from customers.tests.factories import UserFactory

    rng = random.Random(7)
    owner = UserFactory(username="csm-sweep")
    accounts = [
        account(
            arr=rng.choice([0, 5000, 60000, 120000, 400000]),
            plan=rng.choice(["free", "pro", "enterprise", None]),
            health_score=rng.choice([None, 20, 55, 90]),
            owner=rng.choice([None, owner]),
        )
        for _ in range(40)
    ]
    segments = mixed_segments(csm="csm-sweep")
    for segment in segments:
        recompute(segment)
    for acc in accounts:
        Account.objects.filter(pk=acc.pk).update(
            arr=Decimal(rng.choice([0, 5000, 60000, 120000, 400000])),
            plan=rng.choice(["free", "pro", "enterprise", None]),
            health_score=rng.choice([None, 20, 55, 90]),
        )
    flag(*accounts)

    # (with the full recomputes of ranked segments the batches recorded)
    with django_capture_on_commit_callbacks(execute=True):
        engine.segments_evaluate_changed_accounts(batch_size=15)

    for segment in segments:
        run = recompute(segment)
        assert (run.entered, run.exited) == (0, 0), segment.name
        segment.refresh_from_db()
        assert segment.member_count == len(member_ids(segment))


def test_a_rule_whose_trait_was_deleted_is_skipped_not_fatal(today):
    from customers.models import AttributeDefinition

    # given a segment on a custom attribute, which is then deleted
    AttributeDefinition.objects.create(key="nps", label="NPS", type="integer")
    acc = account(arr=150000, traits={"nps": 9})
    promoters = published("Promoters", {"field": "traits.nps", "op": "gte", "value": 9})
    big = published("Big", ARR_100K)
    recompute(promoters)
    AttributeDefinition.objects.filter(key="nps").delete()
    flag(acc)

    # when recomputed or swept, then that segment is left as it is and the rest proceeds
    assert recompute(promoters).status == "invalid_rule"
    engine.segments_evaluate_changed_accounts()
    assert member_ids(promoters) == {acc.pk}
    assert member_ids(big) == {acc.pk}
    assert not account_ids_pending_evaluation().exists()


# --- writes while a batch holds the accounts (real connections) ----------------------------

HOLD_SECONDS = 1.0

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks: SQLite serializes all writes anyway"
)


def sweep_and_write_concurrently(*, hold_after: str, write: Callable[[], Any]) -> dict[str, Any]:
    """Run one sweep batch, holding its transaction open for HOLD_SECONDS after the first
    statement containing ``hold_after``; meanwhile run ``write``. Returns the sweep's
    result, how long the write took, and any errors."""
    outcome = run_while_held(
        holder=lambda: engine.segments_evaluate_changed_accounts(max_batches=1),
        hold_after=hold_after,
        other=write,
        hold_seconds=HOLD_SECONDS,
    )
    return {
        "errors": outcome["errors"],
        "sweep": outcome.get("holder"),
        "write_seconds": outcome.get("other_seconds"),
    }


@pytest.mark.django_db(transaction=True)
@postgresql_only
def test_a_write_after_the_batch_read_the_account_marks_it_again(today):
    # given a starter account marked for evaluation, and a segment of enterprise accounts
    acc = account(plan="starter")
    segment = published("Enterprise", {"field": "plan", "op": "eq", "value": "enterprise"})
    recompute(segment)
    flag(acc)

    # when the account becomes enterprise after a sweep batch evaluated it as starter
    # (the batch has not committed yet)
    results = sweep_and_write_concurrently(
        hold_after=f"INSERT INTO {work_tables.SWEEP_DIFF_TABLE}",
        write=lambda: customer_services.account_update(
            account=Account.objects.get(pk=acc.pk), data={"plan": "enterprise"}
        ),
    )

    # then the write waited for the batch, which saw the old plan and deleted its mark,
    # and the write marked the account again
    assert results["errors"] == []
    assert results["sweep"].accounts == 1 and member_ids(segment) == set()
    assert list(account_ids_pending_evaluation()) == [acc.pk]
    assert results["write_seconds"] >= HOLD_SECONDS * 0.5

    # and the next sweep puts it in the segment
    again = engine.segments_evaluate_changed_accounts()
    assert again.accounts == 1
    assert member_ids(segment) == {acc.pk}
    assert not account_ids_pending_evaluation().exists()


@pytest.mark.django_db(transaction=True)
@postgresql_only
@pytest.mark.parametrize(
    "write",
    [
        lambda acc, csm: customer_services.csm_assign(account=acc, user=csm),
        lambda acc, csm: customer_services.account_update(
            account=acc, data={"external_id": "renamed"}
        ),
        lambda acc, csm: customer_services.account_delete(account=acc),
    ],
    ids=["owner_change", "external_id_change", "delete"],
)
def test_a_write_that_locks_the_account_while_a_batch_holds_it_waits_without_deadlock(today, write):
    # given a marked account that the sweep will put in a segment
    acc = account(arr=500000)
    csm = CSMFactory()
    segment = published("Big", ARR_100K)
    flag(acc)

    # when, right after a sweep batch took it, a write locks the account row in a way
    # that conflicts with the key-share lock the batch's new membership takes on it
    results = sweep_and_write_concurrently(
        hold_after=f"INSERT INTO {work_tables.BATCH_TABLE}",
        write=lambda: write(Account.objects.get(pk=acc.pk), csm),
    )

    # then neither waited for the other forever (no deadlock error): the batch wrote the
    # membership, and the write waited for its commit
    assert results["errors"] == []
    assert (results["sweep"].accounts, results["sweep"].entered) == (1, 1)
    assert results["write_seconds"] >= HOLD_SECONDS * 0.5
    # and the account, unless deleted, is marked again and keeps its membership
    remaining = set(Account.objects.filter(pk=acc.pk).values_list("pk", flat=True))
    assert set(account_ids_pending_evaluation()) == remaining
    assert member_ids(segment) == remaining

"""The renewal queue: window boundaries, overdue, owners, leaving, and the delta build."""

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import services as customer_services
from customers.models import ContractStatus
from customers.tests.factories import AccountFactory, ContractFactory, UserFactory
from playbooks import selectors, services
from playbooks.models import RenewalQueueEntry, RenewalWindow, Task, TaskSource

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_windows")]


def entries() -> set[tuple[int, int | None]]:
    """(contract id, window days or None for overdue) of every queue entry."""
    return {
        (contract_id, days)
        for contract_id, days in RenewalQueueEntry.objects.values_list(
            "contract_id", "window__days"
        )
    }


def contract_ending(today: date, days: int, **extra) -> object:
    return ContractFactory(
        start_date=today - timedelta(days=400), end_date=today + timedelta(days=days), **extra
    )


def test_window_boundaries_and_overdue(today):
    # Given active contracts ending 121, 120, 90, 89, 0 and -1 days from today
    ends = {days: contract_ending(today, days) for days in (121, 120, 90, 89, 0, -1)}

    # When the queue is built
    build = services.renewal_queue_rebuild(today=today)

    # Then a contract is in T-N exactly when 0 <= days left <= N, and -1 is overdue
    assert entries() == {
        (ends[120].id, 120),
        (ends[90].id, 120),
        (ends[90].id, 90),
        (ends[89].id, 120),
        (ends[89].id, 90),
        (ends[0].id, 120),
        (ends[0].id, 90),
        (ends[-1].id, None),
    }
    assert build.full and build.inserted == 8
    overdue = RenewalQueueEntry.objects.get(contract=ends[-1])
    assert overdue.overdue and overdue.window is None and overdue.days_left == -1
    listed = {(e.contract_id, e.days_left) for e in selectors.renewal_queue_list(today=today)}
    assert (ends[89].id, 89) in listed and (ends[-1].id, -1) in listed
    # And one renewal task per renewal: its tightest window's, or the overdue task
    assert set(
        Task.objects.filter(source=TaskSource.RENEWAL).values_list("contract_id", "window__days")
    ) == {
        (ends[120].id, 120),
        (ends[90].id, 90),
        (ends[89].id, 90),
        (ends[0].id, 90),
        (ends[-1].id, None),
    }


def test_entries_carry_owner_arr_and_several_contracts_per_account(today):
    # Given an account owned by a CSM with two contracts in windows, and an unowned one
    alice = UserFactory(username="alice")
    owned = AccountFactory(name="ACME", owner=alice, health_score=72, open_tickets=3)
    first = contract_ending(today, 100, account=owned, arr=Decimal("120000.00"))
    second = contract_ending(today, 30, account=owned, arr=Decimal("5000.00"))
    orphan = contract_ending(today, 60, account=AccountFactory(owner=None))

    # When the queue is built
    services.renewal_queue_rebuild(today=today)

    # Then each contract has its own entries with the owner and the contract's ARR
    assert entries() == {
        (first.id, 120),
        (second.id, 120),
        (second.id, 90),
        (orphan.id, 120),
        (orphan.id, 90),
    }
    entry = RenewalQueueEntry.objects.get(contract=first)
    assert (entry.csm, entry.arr, entry.account, entry.renewal_date) == (
        alice,
        Decimal("120000.00"),
        owned,
        first.end_date,
    )
    assert RenewalQueueEntry.objects.filter(contract=orphan, csm__isnull=True).count() == 2
    # And the renewal task reads well and is the owner's
    task = Task.objects.get(contract=first, window__days=120)
    assert task.assignee == alice
    assert task.title == f"Renewal prep: ACME, renews {first.end_date}, $120,000 ARR"
    assert "Health score: 72" in task.description
    assert "Open tickets: 3" in task.description
    assert "100 days left, window T-120" in task.description
    assert task.due_date == today + timedelta(days=14)
    assert Task.objects.get(contract=orphan, window__days=90).assignee is None


def test_tightest_window_listing(today):
    # Given a contract at 80 days (inside T-120 and T-90) and one at 100 days
    at_80 = contract_ending(today, 80)
    at_100 = contract_ending(today, 100)
    services.renewal_queue_rebuild(today=today)

    # When listing each contract under its tightest window
    listed = [
        (e.contract_id, e.window.days) for e in selectors.renewal_queue_list(tightest_only=True)
    ]

    # Then the 80-day contract is shown once, under T-90
    assert sorted(listed) == sorted([(at_80.id, 90), (at_100.id, 120)])


@pytest.mark.parametrize(
    "status", [ContractStatus.RENEWED, ContractStatus.CHURNED, ContractStatus.CANCELLED]
)
def test_entries_leave_when_contract_is_no_longer_active(today, status):
    # Given a contract in both windows and an overdue one
    inside = contract_ending(today, 50)
    overdue = contract_ending(today, -5)
    services.renewal_queue_rebuild(today=today)
    assert len(entries()) == 3

    # When both are renewed / churned / cancelled through the service
    customer_services.contract_update(contract=inside, data={"status": status})
    customer_services.contract_update(contract=overdue, data={"status": status})
    build = services.renewal_queue_rebuild(today=today)

    # Then their entries leave the queue (the renewal tasks stay, as history)
    assert entries() == set()
    assert not build.full and build.deleted == 3
    assert Task.objects.filter(contract=inside).count() == 1
    assert Task.objects.filter(contract=overdue).count() == 1


def test_next_days_delta_moves_contracts_between_windows(today):
    # Given contracts just outside T-120, at the T-90 edge, and ending today
    outside = contract_ending(today, 121)
    edge_90 = contract_ending(today, 91)
    ends_today = contract_ending(today, 0)
    services.renewal_queue_rebuild(today=today)
    assert (outside.id, 120) not in entries()

    # When tomorrow's (delta) build runs
    tomorrow = today + timedelta(days=1)
    build = services.renewal_queue_rebuild(today=tomorrow)

    # Then each moved: into T-120, into T-90, and to overdue
    assert not build.full
    assert entries() == {
        (outside.id, 120),
        (edge_90.id, 120),
        (edge_90.id, 90),
        (ends_today.id, None),
    }
    assert Task.objects.filter(contract=outside, window__days=120).count() == 1
    assert Task.objects.filter(contract=edge_90, window__days=90).count() == 1


def test_delta_and_full_agree(today):
    # Given a mix of contracts built on day 1, with changes before day 2
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    accounts = [AccountFactory(owner=alice if i % 2 else None) for i in range(6)]
    contracts = [
        contract_ending(today, days, account=accounts[i % 6])
        for i, days in enumerate((-3, 0, 1, 30, 89, 90, 91, 119, 120, 121, 200))
    ]
    services.renewal_queue_rebuild(today=today)
    customer_services.csm_assign(account=accounts[0], user=bob)
    customer_services.contract_update(contract=contracts[3], data={"arr": Decimal("999.00")})
    customer_services.contract_update(
        contract=contracts[4], data={"end_date": today + timedelta(days=150)}
    )

    # When day 2 is built as a delta, and then as a full diff
    day2 = today + timedelta(days=1)
    delta = services.renewal_queue_rebuild(today=day2)
    after_delta = set(
        RenewalQueueEntry.objects.values_list(
            "contract_id", "window_id", "csm_id", "arr", "renewal_date"
        )
    )
    full = services.renewal_queue_rebuild(today=day2, full=True)

    # Then the full diff finds nothing left to do
    assert not delta.full and full.full
    assert (full.inserted, full.updated, full.deleted, full.tasks_created) == (0, 0, 0, 0)
    assert after_delta == set(
        RenewalQueueEntry.objects.values_list(
            "contract_id", "window_id", "csm_id", "arr", "renewal_date"
        )
    )


def test_entry_and_open_task_follow_an_owner_change(today):
    # Given a contract of Alice's account with its renewal tasks: the T-120 one done, then
    # the contract moved into T-90 and got that window's task
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    account = AccountFactory(name="ACME")
    customer_services.csm_assign(account=account, user=alice)
    contract = contract_ending(today, 100, account=account)
    services.renewal_queue_rebuild(today=today)
    t120 = Task.objects.get(contract=contract, window__days=120)
    services.task_complete(task=t120, by=alice)
    customer_services.contract_update(
        contract=contract, data={"end_date": today + timedelta(days=60)}
    )
    services.renewal_queue_rebuild(today=today)
    t90 = Task.objects.get(contract=contract, window__days=90)
    # ... and a manager handed nothing else over

    # When Bob becomes the owner and the queue is rebuilt
    customer_services.csm_assign(account=account, user=bob)
    build = services.renewal_queue_rebuild(today=today)

    # Then the entries and the open task follow Bob; the done task stays Alice's
    assert set(RenewalQueueEntry.objects.values_list("csm__username", flat=True)) == {"bob"}
    t90.refresh_from_db()
    t120.refresh_from_db()
    assert (t90.assignee, t120.assignee) == (bob, alice)
    assert build.tasks_reassigned == 1 and build.updated == 2

    # And a task a manager gave to Carol is left with Carol on the next owner change
    services.task_update(task=t90, data={"assignee": carol})
    customer_services.csm_unassign(account=account)
    services.renewal_queue_rebuild(today=today)
    t90.refresh_from_db()
    assert t90.assignee == carol
    assert set(RenewalQueueEntry.objects.values_list("csm", flat=True)) == {None}


def test_rerun_is_idempotent_and_tasks_are_exactly_once(today):
    # Given a queue built once
    for days in (10, 95, 118, -2):
        contract_ending(today, days)
    services.renewal_queue_rebuild(today=today)
    tasks_before = list(Task.objects.order_by("id").values_list("id", "contract_id", "window_id"))

    # When it is rebuilt again, as a delta and as a full diff
    again = services.renewal_queue_rebuild(today=today)
    full = services.renewal_queue_rebuild(today=today, full=True)

    # Then nothing changes
    for build in (again, full):
        assert (build.inserted, build.updated, build.deleted, build.tasks_created) == (0, 0, 0, 0)
    assert list(Task.objects.order_by("id").values_list("id", "contract_id", "window_id")) == (
        tasks_before
    )


def test_a_cancelled_renewal_task_is_not_recreated(today):
    # Given a renewal task the CSM cancelled, whose contract left and re-entered the window
    contract = contract_ending(today, 100)
    services.renewal_queue_rebuild(today=today)
    task = Task.objects.get(contract=contract)
    services.task_cancel(task=task)
    customer_services.contract_update(
        contract=contract, data={"end_date": today + timedelta(days=300)}
    )
    services.renewal_queue_rebuild(today=today)
    customer_services.contract_update(
        contract=contract, data={"end_date": today + timedelta(days=100)}
    )

    # When the queue is rebuilt
    services.renewal_queue_rebuild(today=today)

    # Then the entry is back but no second task was created
    assert (contract.id, 120) in entries()
    assert list(Task.objects.filter(contract=contract).values_list("status", flat=True)) == [
        "cancelled"
    ]


def test_added_and_deactivated_windows(today):
    # Given a contract at 40 days and a manager adding T-60 and switching T-120 off
    contract = contract_ending(today, 40)
    services.renewal_queue_rebuild(today=today)
    services.renewal_window_create(days=60)
    RenewalWindow.objects.filter(days=120).update(is_active=False)

    # When the queue is rebuilt (the window change forces a full diff)
    build = services.renewal_queue_rebuild(today=today)

    # Then the contract is in T-90 and T-60, not T-120, with a T-60 task
    assert build.full
    assert entries() == {(contract.id, 90), (contract.id, 60)}
    assert Task.objects.filter(contract=contract, window__days=60).count() == 1


def test_delta_build_uses_a_bounded_number_of_queries(today):
    # Given a built queue with many contracts
    for days in range(0, 130, 2):
        contract_ending(today, days)
    services.renewal_queue_rebuild(today=today)

    # When the next day's delta runs
    with CaptureQueriesContext(connection) as queries:
        services.renewal_queue_rebuild(today=today + timedelta(days=1))

    # Then it is a fixed set of statements (reads of the previous build and the windows,
    # the scope, ~10 diff statements, the build row), whatever the number of contracts
    assert len(queries) <= 25


def expected_entries(today: date) -> set[tuple[int, int | None, int | None]]:
    """The queue by its definition, computed in Python: (contract, window days, owner)."""
    from customers.models import Contract

    windows = list(RenewalWindow.objects.filter(is_active=True).values_list("days", flat=True))
    wanted = set()
    for contract in Contract.objects.filter(status=ContractStatus.ACTIVE).select_related("account"):
        left = (contract.end_date - today).days
        owner = contract.account.owner_id
        if left < 0:
            wanted.add((contract.id, None, owner))
        wanted.update((contract.id, days, owner) for days in windows if 0 <= left <= days)
    return wanted


def test_successive_deltas_match_the_definition(today):
    """A random walk of days and changes: after every (delta) build the queue equals the
    definition, and every (contract, window) entry has exactly one renewal task."""
    import random

    rng = random.Random(20261122)
    users = [UserFactory(username=f"u{i}") for i in range(3)]
    accounts = [AccountFactory(owner=rng.choice([None, *users])) for _ in range(12)]
    contracts = [
        contract_ending(today, rng.randint(-5, 135), account=rng.choice(accounts))
        for _ in range(40)
    ]
    day = today
    services.renewal_queue_rebuild(today=day)
    for _ in range(12):
        for _ in range(rng.randint(0, 4)):
            change = rng.random()
            contract = rng.choice(contracts)
            if change < 0.3:
                account = rng.choice(accounts)
                owner = rng.choice([None, *users])
                if owner is None:
                    customer_services.csm_unassign(account=account)
                else:
                    customer_services.csm_assign(account=account, user=owner)
            elif change < 0.5:
                status = rng.choice(list(ContractStatus.values))
                customer_services.contract_update(contract=contract, data={"status": status})
            elif change < 0.8:
                end = day + timedelta(days=rng.randint(-3, 140))
                customer_services.contract_update(
                    contract=contract, data={"end_date": max(end, contract.start_date)}
                )
            else:
                contracts.append(contract_ending(day, rng.randint(0, 130), account=accounts[0]))
        day += timedelta(days=rng.randint(0, 3))
        services.renewal_queue_rebuild(today=day)
        actual = set(RenewalQueueEntry.objects.values_list("contract_id", "window__days", "csm_id"))
        assert actual == expected_entries(day), day
        assert_one_open_task_per_renewal()


def assert_one_open_task_per_renewal() -> None:
    """No contract has two open (or snoozed) renewal tasks, and each contract in the queue
    has its tightest entry's task (any status) or an open task for a tighter window."""
    open_tasks = Task.objects.filter(source=TaskSource.RENEWAL, status__in=["open", "snoozed"])
    per_contract = Counter(open_tasks.values_list("contract_id", flat=True))
    assert max(per_contract.values(), default=0) <= 1, per_contract
    rank = {None: -1}
    rank.update(RenewalWindow.objects.values_list("id", "days"))
    tightest: dict[int, int] = {}
    for contract_id, window_id in RenewalQueueEntry.objects.values_list("contract_id", "window_id"):
        if contract_id not in tightest or rank[window_id] < rank[tightest[contract_id]]:
            tightest[contract_id] = window_id
    tasks = Task.objects.filter(source=TaskSource.RENEWAL).values_list(
        "contract_id", "window_id", "status"
    )
    for contract_id, window_id in tightest.items():
        assert any(
            c == contract_id
            and (w == window_id or (s in ("open", "snoozed") and rank[w] < rank[window_id]))
            for c, w, s in tasks
        ), (contract_id, window_id, list(tasks))


def test_entries_of_a_contract_deleted_behind_djangos_back_leave_on_the_next_full_diff(today):
    # Given queue entries whose contract row is then deleted by raw SQL (entries, and
    # renewal tasks' contract, carry no database foreign key, so nothing cascades)
    gone = contract_ending(today, 30)
    kept = contract_ending(today, 100)
    services.renewal_queue_rebuild(today=today)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM customers_contract WHERE id = %s", [gone.id])

    # When the weekly full diff runs
    build = services.renewal_queue_rebuild(today=today, full=True)

    # Then the orphaned entries are gone and the others are untouched
    assert build.deleted == 2
    assert entries() == {(kept.id, 120)}


def test_deleting_an_account_takes_its_entries_through_its_contracts(today):
    # Given two accounts with contracts in the queue, and their renewal tasks
    gone = contract_ending(today, 30)
    kept = contract_ending(today, 100)
    services.renewal_queue_rebuild(today=today)
    assert Task.objects.filter(account=gone.account).count() == 1

    # When one account is deleted through Django (the entries' account copy has no
    # cascade of its own: its contracts' does it)
    gone.account.delete()

    # Then its entries and tasks are gone, the other account's are untouched
    assert entries() == {(kept.id, 120)}
    assert list(Task.objects.values_list("contract_id", flat=True)) == [kept.id]


def build_with_no_row_changed_since(today: date) -> None:
    """Build the queue for ``today`` with every contract and account row last written
    yesterday, so that the next day's delta finds no changed row."""
    from customers.models import Account, Contract

    yesterday = timezone.now() - timedelta(days=1)
    Contract.objects.update(updated_at=yesterday)
    Account.objects.update(updated_at=yesterday)
    services.renewal_queue_rebuild(today=today)


def test_a_quiet_days_delta_diffs_only_the_contracts_crossing_a_boundary(today):
    # Given a built queue and no contract or account changed since
    inside = contract_ending(today, 50)
    entering = contract_ending(today, 121)
    build_with_no_row_changed_since(today)

    # When the next day's delta runs
    with CaptureQueriesContext(connection) as queries:
        build = services.renewal_queue_rebuild(today=today + timedelta(days=1))

    # Then the contract entering T-120 gets its entry and task, and no statement looks
    # for owner or ARR changes (nothing changed) or for entries to delete (no contract
    # became overdue)
    assert not build.full and (build.inserted, build.updated, build.deleted) == (1, 0, 0)
    assert (entering.id, 120) in entries() and (inside.id, 90) in entries()
    assert Task.objects.filter(contract=entering).count() == 1
    diff_statements = [q["sql"] for q in queries if "renewalqueueentry" in q["sql"].lower()]
    assert not any(sql.lstrip().upper().startswith("UPDATE") for sql in diff_statements)
    assert not any(sql.lstrip().upper().startswith("DELETE") for sql in diff_statements)


def test_a_quiet_days_delta_moves_a_contract_that_became_overdue(today):
    # Given a built queue with a contract on its last day and nothing changed since
    last_day = contract_ending(today, 0)
    entering = contract_ending(today, 121)
    build_with_no_row_changed_since(today)
    assert {(last_day.id, 120), (last_day.id, 90)} <= entries()

    # When the next day's delta runs
    build = services.renewal_queue_rebuild(today=today + timedelta(days=1))

    # Then the overdue contract's window entries are replaced by its overdue entry, and
    # the contract entering T-120 is added
    assert not build.full and (build.inserted, build.deleted) == (2, 2)
    assert {e for e in entries() if e[0] == last_day.id} == {(last_day.id, None)}
    assert (entering.id, 120) in entries()

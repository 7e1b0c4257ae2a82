"""Small hand-computable fixtures for the analytics tests (membership rows and events are
written directly, as a recompute would leave them)."""

from datetime import UTC, date, datetime
from decimal import Decimal

from customers import services as customer_services
from customers.models import Account, ContractStatus
from customers.tests.factories import AccountFactory, ContractFactory
from segments.models import Membership, MembershipEvent, Segment

RENEWED = ContractStatus.RENEWED
CHURNED = ContractStatus.CHURNED
ACTIVE = ContractStatus.ACTIVE
CANCELLED = ContractStatus.CANCELLED


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def segment(name: str, created: date, **extra) -> Segment:
    seg = Segment.objects.create(name=name, slug=name.lower().replace(" ", "-"), **extra)
    Segment.objects.filter(pk=seg.pk).update(created_at=at(created, 0))
    seg.refresh_from_db()
    return seg


def member(seg: Segment, account: Account, entered: date, exited: date | None = None) -> None:
    """``account`` entered ``seg`` on ``entered`` and, if given, left on ``exited``."""
    MembershipEvent.objects.create(segment=seg, account=account, kind="entered", at=at(entered))
    if exited:
        MembershipEvent.objects.create(segment=seg, account=account, kind="exited", at=at(exited))
    else:
        Membership.objects.create(segment=seg, account=account, entered_at=at(entered))


def contract(account: Account, start: date, end: date, arr: int, status: str = ACTIVE):
    return ContractFactory(
        account=account, start_date=start, end_date=end, arr=Decimal(arr), status=status
    )


def enterprise_fixture() -> dict:
    """Segment "Enterprise" (created 2024) with eight accounts; today is 2026-11-22.

    Window for D = 2026-11-22: S = 2025-11-22.

    | acct | contracts (start..end ARR status)                      | ARR S | ARR D | in P |
    |------|--------------------------------------------------------|-------|-------|------|
    | A1   | 25-01-01..25-12-31 100 renewed; 26-01-01..26-12-31 120 | 100   | 120   | yes (expansion)
    | A2   | 25-06-01..26-05-31 200 renewed; 26-06-01..27-05-31 150 | 200   | 150   | yes (contraction)
    | A3   | 25-03-01..26-02-28 300 churned                         | 300   | 0     | yes (churn)
    | A4   | 25-10-01..26-09-30 400 active (past its end, still on) | 400   | 400   | yes
    | A5   | 26-03-01..27-02-28 500 (entered 2026-03-01)            | -     | 500   | no (joined later)
    | A6   | 26-01-01..26-12-31 50                                  | 0     | 50    | no (ARR S = 0)
    | A7   | 25-01-01..25-12-31 60 renewed; 26-01-01..26-12-31 60   | 60    | 60    | yes (left 2026-06-01)
    | A8   | 25-05-01..26-04-30 1000 cancelled                      | 0     | 0     | no (cancelled)
    """
    ent = segment("Enterprise", date(2024, 1, 1))
    joined = date(2025, 1, 15)
    a = {}
    a[1] = AccountFactory(cost_to_serve=Decimal(12), acquisition_cost=Decimal(240), health_score=80)
    contract(a[1], date(2025, 1, 1), date(2025, 12, 31), 100, RENEWED)
    contract(a[1], date(2026, 1, 1), date(2026, 12, 31), 120)
    a[2] = AccountFactory(cost_to_serve=Decimal(30), acquisition_cost=Decimal(300), health_score=60)
    contract(a[2], date(2025, 6, 1), date(2026, 5, 31), 200, RENEWED)
    contract(a[2], date(2026, 6, 1), date(2027, 5, 31), 150)
    a[3] = AccountFactory(health_score=20)
    contract(a[3], date(2025, 3, 1), date(2026, 2, 28), 300, CHURNED)
    a[4] = AccountFactory(cost_to_serve=Decimal(40))
    contract(a[4], date(2025, 10, 1), date(2026, 9, 30), 400)
    a[5] = AccountFactory(
        cost_to_serve=Decimal(50), acquisition_cost=Decimal(1000), health_score=90
    )
    contract(a[5], date(2026, 3, 1), date(2027, 2, 28), 500)
    a[6] = AccountFactory()
    contract(a[6], date(2026, 1, 1), date(2026, 12, 31), 50)
    a[7] = AccountFactory()
    contract(a[7], date(2025, 1, 1), date(2025, 12, 31), 60, RENEWED)
    contract(a[7], date(2026, 1, 1), date(2026, 12, 31), 60)
    a[8] = AccountFactory()
    contract(a[8], date(2025, 5, 1), date(2026, 4, 30), 1000, CANCELLED)
    for n in (1, 2, 3, 4, 6, 8):
        member(ent, a[n], joined)
    member(ent, a[5], date(2026, 3, 1))
    member(ent, a[7], joined, exited=date(2026, 6, 1))
    # The accounts' stored ARR follows their contracts, as the services keep it.
    customer_services.accounts_rederive(account_ids=[account.pk for account in a.values()])
    return {"segment": ent, "accounts": a}

"""A small, realistic world for the web UI tests (views and browser), built through the
domain services: accounts with contracts and owners, a published and recomputed segment,
the renewal queue with its tasks, a manual task and a note."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers import services as customer_services
from customers.models import Account
from playbooks import services as playbook_services
from playbooks.models import Task
from segments import engine as segment_engine
from segments import services as segment_services
from segments.models import Segment

ENTERPRISE_RULE = {"all": [{"field": "plan", "op": "eq", "value": "enterprise"}]}


@dataclass
class World:
    today: date
    accounts: list[Account] = field(default_factory=list)
    other_accounts: list[Account] = field(default_factory=list)
    segment: Segment | None = None
    csm_task: Task | None = None
    other_task: Task | None = None


def make_account(
    *,
    n: int,
    owner: Any,
    today: date,
    plan: str = "pro",
    arr: int = 12000,
    renews_in_days: int = 200,
    prefix: str = "Acme",
) -> Account:
    account = customer_services.account_create(
        name=f"{prefix} {n:03d}",
        external_id=f"{prefix.lower()}-{n:05d}",
        domain=f"{prefix.lower()}{n}.example.com",
        plan=plan,
        region="EMEA",
        industry="software",
        lifecycle_stage="adopting",
        licensed_seats=50,
        active_users=30,
    )
    # The computed health score (the health app writes it), as a scored account holds it.
    account.health_score = 40 + n % 60
    Account.objects.filter(pk=account.pk).update(health_score=account.health_score)
    end = today + timedelta(days=renews_in_days)
    customer_services.contract_create(
        account=account,
        start_date=end - timedelta(days=364),
        end_date=end,
        arr=Decimal(arr),
    )
    if owner is not None:
        customer_services.csm_assign(account=account, user=owner)
    account.refresh_from_db()
    return account


def recompute(segment: Segment) -> None:
    segment_engine.segment_recompute(segment_id=segment.pk)
    segment.refresh_from_db()


def build_world(
    *, csm: Any, other_csm: Any, manager: Any, today: date, n_accounts: int = 5
) -> World:
    """``n_accounts`` for ``csm`` (every other one enterprise; renewals spread over the
    T-120/T-90 windows), three enterprise accounts renewing in 60 days for ``other_csm``, a published segment of
    enterprise accounts, the renewal queue and tasks, a manual task each and a note."""
    world = World(today=today)
    for n in range(n_accounts):
        world.accounts.append(
            make_account(
                n=n,
                owner=csm,
                today=today,
                plan="enterprise" if n % 2 == 0 else "pro",
                arr=10000 + 1000 * n,
                renews_in_days=(30, 80, 100, 200, 400)[n % 5],
            )
        )
    for n in range(3):
        world.other_accounts.append(
            make_account(
                n=n,
                owner=other_csm,
                today=today,
                plan="enterprise",
                prefix="Globex",
                arr=50000,
                renews_in_days=60,
            )
        )
    world.segment = segment_services.segment_create(
        name="Enterprise", rule=ENTERPRISE_RULE, publish=True, created_by=manager
    )
    recompute(world.segment)
    playbook_services.renewal_queue_rebuild(today=today)
    world.csm_task = playbook_services.task_create(
        account=world.accounts[0],
        title="Call the champion",
        due_date=today,
        assignee=csm,
        by=csm,
    )
    world.other_task = playbook_services.task_create(
        account=world.other_accounts[0],
        title="Send QBR deck",
        due_date=today - timedelta(days=2),
        assignee=other_csm,
        by=other_csm,
    )
    customer_services.note_create(
        account=world.accounts[0], author=csm, body="Kickoff went well.", kind="meeting"
    )
    return world


@pytest.fixture(name="world")
def world_fixture(csm: Any, other_csm: Any, manager: Any, today: date) -> World:
    """The world of ``build_world`` for the view tests (import it into a test module)."""
    return build_world(csm=csm, other_csm=other_csm, manager=manager, today=today)


def queries_for(client: Any, url: str, *, cold: bool = True) -> int:
    """How many queries a GET of ``url`` makes (it must answer 200); ``cold``: with an
    empty cache, so what the page caches is read too (the most a load can cost)."""
    if cold:
        cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured.captured_queries)

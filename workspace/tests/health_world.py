"""The UI world (``ui_world.build_world``) with health: one default scorecard over open
tickets (weight 2, 10 or more: 0, none: 100), the champion (weight 1) and a manual CSM
sentiment measure (weight 1), scored 40 days ago and today.

Scores today (sentiment has no entry, so it is left out; Σ weights present = 3):

| account | tickets | champion | score | status |
|---|---|---|---|---|
| accounts[0] | 0 | yes | 100 | green |
| accounts[1] | 5 | no | (2×50 + 0) / 3 = 33 | red (40 days ago: 0 tickets → 67, yellow) |
| accounts[2] | 2 | no | (2×80 + 0) / 3 = 53 | yellow |
| accounts[3] | 10 | yes | (0 + 100) / 3 = 33 | red |
| accounts[4] | 0 | no | 200 / 3 = 67 | yellow |
| other_accounts | 0 | yes | 100 | green |
"""

from datetime import timedelta
from typing import Any

from customers.models import Account
from health import services as health_services
from health.engine import health_recompute

from .ui_world import World, build_world

TICKETS = (0, 5, 2, 10, 0)
CHAMPION = (True, False, False, True, False)
EXPECTED = ((100, "green"), (33, "red"), (53, "yellow"), (33, "red"), (67, "yellow"))
MEASURES = [
    {
        "key": "tickets",
        "label": "Open tickets",
        "weight": "2",
        "source": "field",
        "field": "open_tickets",
        "bad": "10",
        "good": "0",
    },
    {
        "key": "champion",
        "label": "Has a champion",
        "weight": "1",
        "source": "condition",
        "rule": {"field": "has_champion", "op": "eq", "value": True},
    },
    {"key": "sentiment", "label": "CSM sentiment", "weight": "1", "source": "manual"},
]


def _set(account: Account, *, tickets: int, champion: bool) -> None:
    # Test setup: the columns as a CRM sync would leave them (no rule reads them here
    # before the health runs below).
    Account.objects.filter(pk=account.pk).update(open_tickets=tickets, has_champion=champion)


def build_health_world(*, csm: Any, other_csm: Any, manager: Any, today: Any) -> World:
    world = build_world(csm=csm, other_csm=other_csm, manager=manager, today=today)
    health_services.scorecard_create(
        data={"name": "Everyone", "segment": None, "measures": MEASURES}
    )
    for account in world.other_accounts:
        _set(account, tickets=0, champion=True)
    # 40 days ago accounts[1] had no open ticket
    for n, account in enumerate(world.accounts):
        _set(account, tickets=0 if n == 1 else TICKETS[n], champion=CHAMPION[n])
    health_recompute(today=today - timedelta(days=40), mark_changed=False)
    _set(world.accounts[1], tickets=TICKETS[1], champion=CHAMPION[1])
    health_recompute(today=today, mark_changed=False)
    for account in [*world.accounts, *world.other_accounts]:
        account.refresh_from_db()
    return world

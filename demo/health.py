"""Demo health scores (docs/health.md): two scorecards, "Enterprise" (the Enterprise tier)
and "Everyone else" (the default), over product usage, open tickets, the champion and a
manual CSM sentiment measure; CSM sentiment scores on some accounts; a short score history;
and a "Health: red" segment with a playbook on it.

Everything goes through the health services and engine, as in the product. The history is
what the engine would have computed on each of the past weeks from the stored data (usage
windows end on that day; manual scores count from the day they were entered), so the
account page's trend and "what moved the score" have something to show.
"""

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import QuerySet

from customers.models import Account
from health import services as health_services
from health.engine import health_recompute
from health.models import Scorecard
from playbooks import services as playbook_services
from playbooks.models import Playbook, PlaybookActivation, PlaybookTrigger
from segments import services as segment_services
from segments.models import Segment
from usage.models import UsageMetric

ENTERPRISE_SEGMENT = "Enterprise tier"
RED_SEGMENT = "Health: red"
USAGE_METRIC = "logins"
# Weekly history over the demo usage's ~120 days.
HISTORY_WEEKS = 16
# Every Nth demo account gets a CSM sentiment score (through the service, one by one).
SENTIMENT_EVERY = 9
SENTIMENT_MAX = 150

TICKETS = {"source": "field", "field": "open_tickets", "bad": "10", "good": "0"}
CHAMPION = {"source": "condition", "rule": {"field": "has_champion", "op": "eq", "value": True}}
USAGE = {"source": "field", "field": "usage.logins.days_active_30d", "bad": "0", "good": "20"}
SEATS = {"source": "field", "field": "seat_utilization", "bad": "0.2", "good": "0.9"}
SENTIMENT = {"source": "manual", "valid_days": 90}


@dataclass
class DemoHealth:
    scorecards: list[str] = field(default_factory=list)
    sentiment_entries: int = 0
    history_days: int = 0
    segment: Segment | None = None
    playbook: Playbook | None = None


def _measure(key: str, label: str, weight: int, source: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "label": label, "weight": str(weight), **source}


def _measures(with_usage: bool, enterprise: bool) -> list[dict[str, Any]]:
    measures = [
        _measure("tickets", "Open tickets", 2, TICKETS),
        _measure("champion", "Has a champion", 2 if enterprise else 1, CHAMPION),
        _measure("sentiment", "CSM sentiment", 3 if enterprise else 1, SENTIMENT),
    ]
    if with_usage:
        measures.insert(0, _measure("usage", "Days active (logins, 30 days)", 4, USAGE))
    if enterprise:
        measures.append(_measure("seats", "Seat utilization", 2, SEATS))
    return measures


def demo_scorecards_create(segments: dict[str, Segment]) -> list[Scorecard]:
    """The two scorecards (the Enterprise one only when its tier segment exists)."""
    with_usage = UsageMetric.objects.filter(key=USAGE_METRIC).exists()
    created = []
    if enterprise := segments.get(ENTERPRISE_SEGMENT):
        data = {
            "name": "Enterprise",
            "segment": enterprise.pk,
            "priority": 10,
            "red_below": 45,
            "green_from": 75,
            "measures": _measures(with_usage, enterprise=True),
        }
        created.append(health_services.scorecard_create(data=data))
    default = {
        "name": "Everyone else",
        "segment": None,
        "priority": 100,
        "measures": _measures(with_usage, enterprise=False),
    }
    created.append(health_services.scorecard_create(data=default))
    return created


def demo_red_segment_create(owner: Any) -> tuple[Segment, Playbook]:
    """The "Health: red" segment and a playbook that asks the owner to act on it."""
    segment = segment_services.segment_create(
        name=RED_SEGMENT,
        rule={"field": "health.status", "op": "eq", "value": "red"},
        publish=True,
        owner=owner,
        created_by=owner,
        description="Accounts whose computed health is red.",
        review_every_days=14,
    )
    playbook = playbook_services.playbook_create(
        name="Rescue red health",
        description="A task for the owner when an account's health turns red.",
        segment=segment,
        trigger=PlaybookTrigger.ON_ENTER,
        is_active=True,
        stable_days=0,
        on_activation=PlaybookActivation.RUN_FOR_CURRENT_MEMBERS,
        steps=[
            {
                "kind": "create_task",
                "config": {
                    "title": "Health red: {{ account.name }}",
                    "description": (
                        "Health score {{ account.health_score }}. Open the account's health "
                        "breakdown, see what moved the score and agree a recovery plan."
                    ),
                    "due_in_days": 5,
                },
            }
        ],
        by=owner,
    )
    return segment, playbook


def demo_sentiment_enter(*, today: date, seed: int = 1) -> int:
    """CSM sentiment scores on every SENTIMENT_EVERY-th owned account (at most
    SENTIMENT_MAX), entered by the owner through the service, with a comment; those
    accounts are rescored at once. Run after the accounts were first scored: the service
    finds the measure in the scorecard that scores the account."""
    rng = random.Random(f"health-{seed}")
    accounts = Account.objects.filter(owner__isnull=False).select_related("owner").order_by("pk")
    entered = []
    for account in accounts[: SENTIMENT_EVERY * SENTIMENT_MAX : SENTIMENT_EVERY]:
        score = rng.choice((20, 35, 50, 65, 80, 90))
        mood = "worried" if score < 40 else "fine" if score < 70 else "happy"
        health_services.manual_entry_create(
            account=account,
            measure="sentiment",
            score=score,
            comment=f"Champion sounds {mood} on the last call.",
            by=account.owner,
        )
        entered.append(account.pk)
    health_recompute(
        accounts=Account.objects.filter(pk__in=entered), today=today, mark_changed=False
    )
    return len(entered)


def demo_history_compute(*, today: date, accounts: QuerySet[Account] | None = None) -> int:
    """Score every account on each past week, oldest first, then today (each run writes
    history only where something changed)."""
    days = [today - timedelta(weeks=weeks) for weeks in range(HISTORY_WEEKS, 0, -1)]
    for day in [*days, today]:
        health_recompute(accounts=accounts, today=day, mark_changed=False)
    return len(days)

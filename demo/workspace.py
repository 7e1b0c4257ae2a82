"""``seed_demo_workspace``: the demo workspace on top of the demo accounts: segments a CS
team would define, their memberships, playbooks, health scorecards with a short score
history (``demo.health``) and the renewal queue, so a new user sees a working product.

Everything goes through the same services as the UI, the admin and the API. The
recomputes and the renewal queue build run in-process, so the pages have content as soon
as the command returns; the playbook runs are queued for the worker like any others.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from cs_platform import clock
from cs_platform.roles import CSMS, MANAGERS
from customers.models import Account
from playbooks import services as playbook_services
from playbooks.models import PlaybookActivation, PlaybookTrigger
from segments import engine as segment_engine
from segments import services as segment_services
from segments.models import ExclusiveGroup, Segment, SegmentKind
from usage.models import UsageMetric
from workspace.models import TeamMember

from .health import (
    demo_history_compute,
    demo_red_segment_create,
    demo_scorecards_create,
    demo_sentiment_enter,
)
from .history import tier_history_create
from .products import demo_products_ensure

# (name, rule, extra segment_create arguments); tiers share an exclusive group.
TIERS = (
    ("Enterprise tier", {"field": "arr", "op": "gte", "value": 100000}),
    ("Mid-market tier", {"field": "arr", "op": "gte", "value": 20000}),
    ("SMB tier", {"field": "arr", "op": "gt", "value": 0}),
)
SEGMENTS: tuple[tuple[str, dict, dict[str, Any]], ...] = (
    (
        "Renewing in 120 days",
        {"field": "renewal_date", "op": "within_next_days", "value": 120},
        {"description": "Active contracts ending within 120 days.", "review_every_days": 30},
    ),
    (
        "At risk",
        {
            "any": [
                {"field": "health_score", "op": "lt", "value": 40},
                {"field": "lifecycle_stage", "op": "eq", "value": "at_risk"},
            ]
        },
        {"description": "Low health or flagged at risk.", "review_every_days": 14},
    ),
    (
        "Low seat utilization",
        {
            "all": [
                {"field": "licensed_seats", "op": "gte", "value": 10},
                {"field": "seat_utilization", "op": "lt", "value": 0.5},
            ]
        },
        {"description": "Fewer than half of 10+ licensed seats in use."},
    ),
    (
        "EMEA enterprise plan",
        {
            "all": [
                {"field": "region", "op": "eq", "value": "EMEA"},
                {"field": "plan", "op": "eq", "value": "enterprise"},
            ]
        },
        {},
    ),
    (
        "Analytics add-on",
        {"field": "products", "op": "contains", "value": "ANALYTICS"},
        {"description": "Accounts with the Analytics add-on on an active contract."},
    ),
    (
        "Top 50 by ARR",
        {"all": []},
        {"rank_by": "arr", "rank_limit": 50, "description": "The 50 largest accounts."},
    ),
)
STATIC_SEGMENT = "Strategic accounts (hand-picked)"
# Usage segments (DESIGN section 11's rule fields), created when the demo usage metrics
# exist (``seed_demo`` without --no-usage).
USAGE_SEGMENTS: tuple[tuple[str, dict, dict[str, Any]], ...] = (
    (
        "Dormant 30 days",
        {
            "all": [
                {"field": "usage.logins.days_active_30d", "op": "eq", "value": 0},
                {"field": "usage.logins.last_active", "op": "is_not_null"},
            ]
        },
        {"description": "Used the product before, but nobody logged in for 30 days."},
    ),
    (
        "Usage down 40% month over month",
        {"field": "usage.logins.change_30d", "op": "lte", "value": -40},
        {"description": "Logins of the last 30 days at least 40% below the 30 days before."},
    ),
    (
        "Power users",
        {"field": "usage.logins.days_active_30d", "op": "gte", "value": 20},
        {
            "rank_by": "usage.logins.sum_30d",
            "rank_limit": 50,
            "description": "The 50 accounts with the most logins in 30 days, active 20+ days.",
        },
    ),
)
USAGE_METRIC_KEYS = ("logins",)


@dataclass
class DemoWorkspace:
    created: bool = False
    segments: dict[str, int] = field(default_factory=dict)  # name -> member count
    playbooks: list[str] = field(default_factory=list)
    scorecards: list[str] = field(default_factory=list)
    sentiment_entries: int = 0
    queue_entries: int = 0
    renewal_tasks: int = 0


def seed_demo_workspace() -> DemoWorkspace:
    """Create the demo segments and playbooks once (nothing happens when any segment
    exists), recompute them and build the renewal queue."""
    result = DemoWorkspace()
    if Segment.objects.exists() or not Account.objects.exists():
        return result
    owner = get_user_model().objects.filter(groups__name=MANAGERS).order_by("username").first()
    with transaction.atomic():
        demo_products_ensure()  # the product segment names one
        segments = _segments_create(owner)
        result.playbooks = _playbooks_create(segments, owner)
        result.scorecards = [s.name for s in demo_scorecards_create(segments)]
        _, red_playbook = demo_red_segment_create(owner)
        result.playbooks.append(red_playbook.name)
        _teams_create()
    # The tiers first: the Enterprise scorecard scores the Enterprise tier's members. Then
    # health (a few past weeks and today), then every other segment, some of which read it.
    tiers = Segment.objects.filter(exclusive_group__isnull=False)
    others = Segment.objects.filter(exclusive_group__isnull=True)
    for segment in tiers.order_by("exclusive_group_id", "priority", "pk"):
        run = segment_engine.segment_recompute(segment_id=segment.pk)
        result.segments[segment.name] = run.member_count or 0
    today = clock.today()
    demo_history_compute(today=today)
    result.sentiment_entries = demo_sentiment_enter(today=today)
    for segment in others.order_by("pk"):
        run = segment_engine.segment_recompute(segment_id=segment.pk)
        result.segments[segment.name] = run.member_count or 0
    # The revenue tiers get a history (growth charts, trailing-year retention); the other
    # segments stay as new as they are ("since created").
    tier_history_create([(segments[name], Decimal(rule["value"])) for name, rule in TIERS])
    # The recomputes' membership events start the playbooks (their runs go to the worker).
    playbook_services.playbooks_process_events()
    build = playbook_services.renewal_queue_rebuild(full=True)
    result.created = True
    result.queue_entries = build.inserted
    result.renewal_tasks = build.tasks_created
    return result


def _teams_create() -> None:
    """The CSMs split between the demo managers, in username order (the team page opens
    on each manager's own team)."""
    User = get_user_model()
    managers = list(User.objects.filter(groups__name=MANAGERS).order_by("username"))
    csms = list(User.objects.filter(groups__name=CSMS).order_by("username"))
    if not managers:
        return
    per_team = -(-len(csms) // len(managers))
    for index, csm in enumerate(csms):
        TeamMember.objects.get_or_create(
            user=csm, defaults={"manager": managers[index // per_team]}
        )


def _segments_create(owner: Any) -> dict[str, Segment]:
    created: dict[str, Segment] = {}
    group = ExclusiveGroup.objects.create(
        name="Revenue tier", description="Every paying account in exactly one tier."
    )
    for priority, (name, rule) in enumerate(TIERS, start=1):
        created[name] = segment_services.segment_create(
            name=name,
            rule=rule,
            publish=True,
            owner=owner,
            created_by=owner,
            exclusive_group=group,
            priority=priority,
            note="Demo tier",
        )
    for name, rule, extra in SEGMENTS:
        created[name] = segment_services.segment_create(
            name=name, rule=rule, publish=True, owner=owner, created_by=owner, **extra
        )
    if UsageMetric.objects.filter(key__in=USAGE_METRIC_KEYS).count() == len(USAGE_METRIC_KEYS):
        for name, rule, extra in USAGE_SEGMENTS:
            created[name] = segment_services.segment_create(
                name=name, rule=rule, publish=True, owner=owner, created_by=owner, **extra
            )
    strategic = segment_services.segment_create(
        name=STATIC_SEGMENT, kind=SegmentKind.STATIC, publish=True, owner=owner, created_by=owner
    )
    largest = Account.objects.order_by("-arr", "pk").values_list("pk", flat=True)[:10]
    segment_services.static_segment_members_add(segment=strategic, account_ids=list(largest))
    created[STATIC_SEGMENT] = strategic
    return created


def _playbooks_create(segments: dict[str, Segment], owner: Any) -> list[str]:
    at_risk = playbook_services.playbook_create(
        name="Save at-risk accounts",
        description="Call the champion within three days of an account turning at risk.",
        segment=segments["At risk"],
        trigger=PlaybookTrigger.ON_ENTER,
        is_active=True,
        stable_days=0,
        on_activation=PlaybookActivation.RUN_FOR_CURRENT_MEMBERS,
        steps=[
            {
                "kind": "create_task",
                "config": {
                    "title": "Call {{ account.name }}: account at risk",
                    "description": (
                        "Health score {{ account.health_score }}, ARR {{ account.arr }}, "
                        "renews {{ account.renewal_date }}. Agree a recovery plan."
                    ),
                    "due_in_days": 3,
                },
            },
        ],
        by=owner,
    )
    recovered = playbook_services.playbook_create(
        name="Recovered from risk",
        description="Thank the champion when an account leaves the at-risk segment.",
        segment=segments["At risk"],
        trigger=PlaybookTrigger.ON_EXIT,
        is_active=True,
        stable_days=7,
        on_activation=PlaybookActivation.ONLY_NEW_ENTRIES,
        steps=[
            {
                "kind": "create_task",
                "config": {"title": "Recovery check-in: {{ account.name }}", "due_in_days": 7},
            }
        ],
        by=owner,
    )
    return [at_risk.name, recovered.name]

"""Helpers for the segment engine tests: accounts with given attributes and segments
created through the services."""

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from customers.models import Account
from customers.tests.factories import AccountFactory
from segments import engine, services
from segments.models import ExclusiveGroup, Membership, MembershipEvent, Segment, SegmentSnapshot
from segments.signals import memberships_changed


def account(**fields: Any) -> Account:
    """An account with ``fields`` (``arr`` is written directly: the derived column)."""
    arr = fields.pop("arr", None)
    created = AccountFactory(**fields)
    if arr is not None:
        Account.objects.filter(pk=created.pk).update(arr=Decimal(arr))
        created.arr = Decimal(arr)
    return created


def published(name: str, rule: dict, **kwargs: Any) -> Segment:
    """A dynamic segment with a published version 1 (its recompute is queued on commit,
    which tests under ``db`` never reach; they call the service directly)."""
    return services.segment_create(name=name, rule=rule, publish=True, **kwargs)


def recompute(segment: Segment, **kwargs: Any) -> engine.RecomputeResult:
    return engine.segment_recompute(segment_id=segment.pk, **kwargs)


def member_ids(segment: Segment) -> set[int]:
    return set(Membership.objects.filter(segment=segment).values_list("account_id", flat=True))


def row_counts() -> dict[str, int]:
    return {
        "memberships": Membership.objects.count(),
        "events": MembershipEvent.objects.count(),
        "snapshots": SegmentSnapshot.objects.count(),
    }


ARR_100K = {"field": "arr", "op": "gte", "value": 100000}
PRO_RULE = {"all": [{"field": "plan", "op": "eq", "value": "pro"}]}


def mixed_segments(*, csm: str) -> list[Segment]:
    """Segments of every kind of rule the engine must get right together: null-sensitive
    rules, NOT, OR, a CSM's book (``csm``: a username), an exclusive group with a ranked
    head, an empty rule, and a ranked segment outside any group."""
    group = ExclusiveGroup.objects.create(name="Tiers")
    return [
        published(
            "Top 3",
            {"field": "arr", "op": "gt", "value": 0},
            rank_by="arr",
            rank_limit=3,
            exclusive_group=group,
            priority=1,
        ),
        published(
            "Big", {"field": "arr", "op": "gte", "value": 100000}, exclusive_group=group, priority=2
        ),
        published("Rest", {"all": []}, exclusive_group=group, priority=3),
        published("Not pro", {"not": {"field": "plan", "op": "eq", "value": "pro"}}),
        published(
            "Unhealthy or free",
            {
                "any": [
                    {"field": "health_score", "op": "lt", "value": 50},
                    {"field": "plan", "op": "in", "value": ["free"]},
                ]
            },
        ),
        published("Owned", {"field": "csm", "op": "eq", "value": csm}),
        published("No health", {"field": "health_score", "op": "is_null"}),
        published("Healthiest 4", {"all": []}, rank_by="health_score", rank_limit=4),
    ]


@contextmanager
def memberships_changed_received() -> Iterator[list[dict]]:
    """The keyword arguments of every ``memberships_changed`` sent inside the block."""
    received: list[dict] = []

    def listener(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    memberships_changed.connect(listener)
    try:
        yield received
    finally:
        memberships_changed.disconnect(listener)

"""Helpers for the segment engine tests: accounts with given attributes and segments
created through the services."""

from decimal import Decimal
from typing import Any

from customers.models import Account
from customers.tests.factories import AccountFactory
from segments import services
from segments.models import Membership, MembershipEvent, Segment, SegmentSnapshot


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


def recompute(segment: Segment, **kwargs: Any) -> services.RecomputeResult:
    return services.segment_recompute(segment_id=segment.pk, **kwargs)


def member_ids(segment: Segment) -> set[int]:
    return set(Membership.objects.filter(segment=segment).values_list("account_id", flat=True))


def row_counts() -> dict[str, int]:
    return {
        "memberships": Membership.objects.count(),
        "events": MembershipEvent.objects.count(),
        "snapshots": SegmentSnapshot.objects.count(),
    }


ARR_100K = {"field": "arr", "op": "gte", "value": 100000}

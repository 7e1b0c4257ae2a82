"""Demo membership history: the revenue-tier segments as if they had been defined a year
and a half ago, so a new install's growth charts and retention figures have history to
show (and the other demo segments stay "since created", as a segment defined today is).

Run once by ``seed_demo_workspace`` right after the first recompute, before anything reads
the history: each current member's entry moves back to when it became a customer (or the
tier's start), each churned account that was a customer then gets an entry and an exit on
its churn day, and the daily growth snapshots are rebuilt from those events
(``segment_snapshots_backfill``). Only the demo does this: the product never rewrites
membership history.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cs_platform import clock
from customers.models import Account, Contract
from segments import engine as segment_engine
from segments.models import Membership, MembershipEvent, MembershipEventKind, Segment

HISTORY_DAYS = 540
BATCH = 2000


def _moment(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=timezone.get_default_timezone())


def tier_history_create(tiers: list[tuple[Segment, Decimal]]) -> int:
    """Give ``tiers`` (segment, lowest ARR, highest first) a history from ``HISTORY_DAYS``
    ago; returns the number of churned accounts given an entry and an exit."""
    began = clock.today() - timedelta(days=HISTORY_DAYS)
    added = 0
    with transaction.atomic():
        for segment, _floor in tiers:
            Segment.objects.filter(pk=segment.pk).update(created_at=_moment(began))
            _members_backdate(segment, began)
        added = _churned_members_add(tiers, began)
    for segment, _floor in tiers:
        segment_engine.segment_snapshots_backfill(segment_id=segment.pk)
    return added


def _members_backdate(segment: Segment, began: date) -> None:
    memberships = Membership.objects.filter(segment=segment).values_list(
        "pk", "account_id", "account__customer_since"
    )
    entered = {}
    moved = []
    for pk, account_id, since in memberships.iterator(chunk_size=BATCH):
        at = _moment(max(since or began, began))
        entered[account_id] = at
        moved.append(Membership(pk=pk, entered_at=at))
    Membership.objects.bulk_update(moved, ["entered_at"], batch_size=BATCH)
    events = []
    for event in MembershipEvent.objects.filter(
        segment=segment, kind=MembershipEventKind.ENTERED
    ).only("pk", "account_id"):
        event.at = entered.get(event.account_id, event.at)
        events.append(event)
    MembershipEvent.objects.bulk_update(events, ["at"], batch_size=BATCH)


def _churned_members_add(tiers: list[tuple[Segment, Decimal]], began: date) -> int:
    """Churned accounts that churned after ``began`` were in the tier of their last
    contract's ARR until their churn day."""
    churned = (
        Account.objects.filter(churned_on__gt=began, arr=0)
        .values_list("pk", "customer_since", "churned_on")
        .order_by("pk")
    )
    last_arr = dict(
        Contract.objects.filter(account__churned_on__gt=began, account__arr=0)
        .values("account_id")
        .annotate(top=Max("arr"))
        .values_list("account_id", "top")
    )
    events = []
    for pk, since, churned_on in churned.iterator(chunk_size=BATCH):
        arr = last_arr.get(pk) or Decimal(0)
        tier = next((segment for segment, floor in tiers if arr >= floor and arr > 0), None)
        start = max(since or began, began)
        if tier is None or churned_on <= start:
            continue
        events.append(
            MembershipEvent(
                segment=tier, account_id=pk, kind=MembershipEventKind.ENTERED, at=_moment(start)
            )
        )
        events.append(
            MembershipEvent(
                segment=tier,
                account_id=pk,
                kind=MembershipEventKind.EXITED,
                at=_moment(churned_on + timedelta(days=1)),
            )
        )
    MembershipEvent.objects.bulk_create(events, batch_size=BATCH)
    return len(events) // 2

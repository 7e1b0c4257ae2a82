"""Segment review reminders: a segment whose periodic review is overdue is flagged to its
owner with a task, exactly once per overdue period.

A segment is reviewed every ``review_every_days`` days counted from ``last_reviewed_at``
(or its creation day when never reviewed): review k is due on ``base + k * N``, and it is
overdue from the day after (as ``segments.selectors.segment_review_due_on`` shows it). The
overdue period is identified by the due date it started from, and the task carries the
key ``review:{segment_id}:{due date}``, so running the job twice (or in two workers at once)
creates one task; the next period, or a review followed by a new lapse, gets a new key.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils import timezone

from cs_platform import clock
from customers.models import Account
from segments.models import Membership, Segment

from .models import Task, TaskSource
from .services.tasks import task_create

logger = logging.getLogger(__name__)

# Segments examined per run: a product has tens of segments; the bound keeps a run short
# even if something creates thousands.
REVIEW_BATCH = 1000


@dataclass
class ReviewReminderResult:
    created: list[int] = field(default_factory=list)  # task ids
    already_flagged: int = 0
    skipped_empty: list[int] = field(default_factory=list)  # segment ids (see _anchor_account)


def review_base(segment: Segment) -> date:
    return segment.last_reviewed_at or timezone.localdate(segment.created_at)


def review_overdue_since(segment: Segment, today: date) -> date | None:
    """The due date of the review that is overdue on ``today`` (the start of the current
    overdue period), or None when no review is overdue."""
    every = segment.review_every_days
    if not every:
        return None  # 0 days: the segment is not reviewed periodically
    elapsed = (today - review_base(segment)).days
    if elapsed <= every:
        return None
    periods = (elapsed - 1) // every
    return review_base(segment) + timedelta(days=periods * every)


def review_dedupe_key(segment_id: int, period_start: date) -> str:
    return f"review:{segment_id}:{period_start.isoformat()}"


def _anchor_account(segment: Segment) -> Account | None:
    """The account a review task hangs on.

    A review concerns the segment, not an account, so the task has no account when the
    Task model allows that. While ``Task.account`` is required, the task hangs on the
    segment's largest current member by ARR (ties: lowest id) so the owner still gets it;
    a segment with no members then cannot be flagged and is reported as skipped."""
    if Task._meta.get_field("account").null:
        return None
    membership = (
        Membership.objects.filter(segment=segment)
        .select_related("account")
        .order_by("-account__arr", "account_id")
        .first()
    )
    return membership.account if membership else None


def segment_review_reminders(*, today: date | None = None) -> ReviewReminderResult:
    """Create one review task for each active segment whose review is overdue, assigned
    to the segment's owner, unless this overdue period already has one."""
    today = today or clock.today()
    result = ReviewReminderResult()
    segments = Segment.objects.filter(is_active=True).select_related("owner").order_by("id")
    for segment in segments[:REVIEW_BATCH]:
        period_start = review_overdue_since(segment, today)
        if period_start is None:
            continue
        key = review_dedupe_key(segment.pk, period_start)
        if Task.objects.filter(dedupe_key=key).exists():
            result.already_flagged += 1
            continue
        account = _anchor_account(segment)
        if account is None and not Task._meta.get_field("account").null:
            result.skipped_empty.append(segment.pk)
            logger.warning(
                "segment %s: review overdue, but no account to hang a task on", segment.pk
            )
            continue
        last = segment.last_reviewed_at
        task = task_create(
            account=account,
            title=f"Review segment: {segment.name}",
            description=(
                f"The review of segment “{segment.name}” was due on {period_start.isoformat()} "
                f"(every {segment.review_every_days} days; "
                + (f"last reviewed {last.isoformat()})." if last else "never reviewed).")
                + " Check its rule, its members and its playbooks, then mark it reviewed."
            ),
            due_date=period_start,
            assignee=segment.owner,
            source=TaskSource.REVIEW,
            dedupe_key=key,
        )
        result.created.append(task.pk)
    return result

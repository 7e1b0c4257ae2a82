"""Segment review reminders: one task per overdue period, to the segment's owner."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from customers.tests.factories import AccountFactory
from playbooks import reviews
from playbooks.models import Task, TaskSource
from playbooks.tasks import segment_review_reminders_task
from segments.models import Membership, Segment

pytestmark = pytest.mark.django_db


def make_segment(name: str, *, created: date, owner=None, every: int = 90, **extra) -> Segment:
    segment = Segment.objects.create(
        name=name, slug=name.lower(), owner=owner, review_every_days=every, **extra
    )
    Segment.objects.filter(pk=segment.pk).update(
        created_at=datetime(created.year, created.month, created.day, 9, tzinfo=UTC)
    )
    segment.refresh_from_db()
    # While Task.account is required, a review task hangs on a member (see reviews.py).
    account = AccountFactory(arr=Decimal("1000"))
    Membership.objects.create(segment=segment, account=account, entered_at=segment.created_at)
    return segment


def test_overdue_periods():
    # Given a segment reviewed every 90 days, created 2026-01-01 and never reviewed
    seg = Segment(review_every_days=90, created_at=datetime(2026, 1, 1, 9, tzinfo=UTC))

    # Then review 1 is due 2026-04-01 and overdue from the day after, until review 2
    # (due 2026-06-30) lapses in turn
    assert reviews.review_overdue_since(seg, date(2026, 4, 1)) is None
    assert reviews.review_overdue_since(seg, date(2026, 4, 2)) == date(2026, 4, 1)
    assert reviews.review_overdue_since(seg, date(2026, 6, 30)) == date(2026, 4, 1)
    assert reviews.review_overdue_since(seg, date(2026, 7, 1)) == date(2026, 6, 30)
    # A review resets the count; 0 days means no periodic review
    seg.last_reviewed_at = date(2026, 6, 1)
    assert reviews.review_overdue_since(seg, date(2026, 7, 1)) is None
    seg.review_every_days = 0
    assert reviews.review_overdue_since(seg, date(2030, 1, 1)) is None


def test_reminder_is_created_once_per_overdue_period(manager):
    # Given an overdue segment owned by a manager, one reviewed recently, one inactive
    overdue = make_segment("Overdue", created=date(2026, 1, 1), owner=manager)
    make_segment("Fresh", created=date(2026, 1, 1), last_reviewed_at=date(2026, 5, 1))
    make_segment("Off", created=date(2026, 1, 1), is_active=False)

    # When the job runs twice on 2026-04-10
    first = reviews.segment_review_reminders(today=date(2026, 4, 10))
    second = reviews.segment_review_reminders(today=date(2026, 4, 10))

    # Then one task exists, for the owner, keyed to the period
    tasks = list(Task.objects.filter(source=TaskSource.REVIEW))
    assert len(tasks) == 1 and first.created == [tasks[0].pk]
    assert second.created == [] and second.already_flagged == 1
    task = tasks[0]
    assert task.assignee == manager
    assert task.dedupe_key == f"review:{overdue.pk}:2026-04-01"
    assert task.due_date == date(2026, 4, 1)
    assert task.title == "Review segment: Overdue"

    # When it runs again later in the same period, then nothing new
    assert reviews.segment_review_reminders(today=date(2026, 6, 30)).created == []

    # When the next period lapses, then a second task
    later = reviews.segment_review_reminders(today=date(2026, 7, 1))
    assert len(later.created) == 1
    assert Task.objects.get(pk=later.created[0]).dedupe_key == f"review:{overdue.pk}:2026-06-30"
    assert Task.objects.filter(source=TaskSource.REVIEW).count() == 2


def test_a_review_starts_a_new_count(manager):
    # Given a flagged segment that is then reviewed on 2026-04-15
    seg = make_segment("Tiers", created=date(2026, 1, 1), owner=manager, every=30)
    reviews.segment_review_reminders(today=date(2026, 2, 5))
    Segment.objects.filter(pk=seg.pk).update(last_reviewed_at=date(2026, 4, 15))

    # When the job runs before and after the new due date (2026-05-15)
    before = reviews.segment_review_reminders(today=date(2026, 5, 15))
    after = reviews.segment_review_reminders(today=date(2026, 5, 16))

    # Then only the lapse after the review is flagged
    assert before.created == []
    assert Task.objects.get(pk=after.created[0]).dedupe_key == f"review:{seg.pk}:2026-05-15"


def test_celery_task_is_thin_and_idempotent(manager, settings):
    # Given an overdue segment and a pinned today
    settings.CS_TODAY = date(2026, 4, 10)
    make_segment("Overdue", created=date(2026, 1, 1), owner=manager)

    # When the task body runs twice
    first = segment_review_reminders_task.run()
    second = segment_review_reminders_task.run(today="2026-04-10")

    # Then
    assert segment_review_reminders_task.name == "playbooks.segment_review_reminders"
    assert first["created"] == 1 and second == {
        "created": 0,
        "already_flagged": 1,
        "skipped_empty": [],
    }


def test_review_reminders_are_registered_in_the_worker_and_scheduled_daily(db):
    from django_celery_beat.models import PeriodicTask

    import playbooks.tasks  # noqa: F401 (what the worker's autodiscovery imports)
    from cs_platform.celery import app

    assert "playbooks.segment_review_reminders" in app.tasks
    schedule = PeriodicTask.objects.get(task="playbooks.segment_review_reminders")
    assert schedule.enabled
    assert (schedule.crontab.hour, schedule.crontab.minute) == ("2", "30")

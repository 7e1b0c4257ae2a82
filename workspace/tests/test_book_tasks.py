"""My book's task buckets: overdue, due today and due this week, each with its count and
its first tasks by due date."""

from datetime import timedelta

import pytest
from django.urls import reverse

from cs_platform.roles import is_manager
from customers.tests.factories import AccountFactory
from playbooks.models import Task, TaskStatus
from workspace import selectors

pytestmark = pytest.mark.django_db


def test_each_bucket_counts_all_its_open_tasks_and_shows_the_first_by_due_date(
    client, csm, other_csm, today, django_assert_max_num_queries
):
    # Given csm's open tasks: 12 overdue, 1 due today, 2 this week (one on its last day)
    account = AccountFactory(owner=csm)

    def task(title, due, assignee=csm, status=TaskStatus.OPEN, **extra):
        return Task.objects.create(
            account=account, assignee=assignee, title=title, due_date=due, status=status, **extra
        )

    overdue = [task(f"Late {n}", today - timedelta(days=30 - n)) for n in range(12)]
    due_today = task("Today", today)
    this_week = [task("Tomorrow", today + timedelta(days=1)), task("Day 7", today + timedelta(7))]
    # and what no bucket holds: due after the week, done, snoozed, no due date, someone else's
    task("Day 8", today + timedelta(days=8))
    task("Done", today - timedelta(days=1), status=TaskStatus.DONE)
    task("Snoozed", today, status=TaskStatus.SNOOZED, snoozed_until=today + timedelta(3))
    task("Undated", None)
    task("Theirs", today, assignee=other_csm)

    # When the buckets are read (two queries however many tasks; the viewer's role is read
    # once per request, by the page before them)
    is_manager(csm)
    with django_assert_max_num_queries(2):
        buckets = selectors.task_buckets(csm, csm, today)

    # Then each counts all its tasks and shows the first BOOK_TASKS_SHOWN by due date
    shown = {key: [t.title for t, _ in bucket["rows"]] for key, bucket in buckets.items()}
    assert {key: bucket["count"] for key, bucket in buckets.items()} == {
        "overdue": 12,
        "today": 1,
        "week": 2,
    }
    assert shown == {
        "overdue": [t.title for t in overdue[: selectors.BOOK_TASKS_SHOWN]],
        "today": [due_today.title],
        "week": [t.title for t in this_week],
    }
    assert all(can_change for bucket in buckets.values() for _, can_change in bucket["rows"])
    # And the page shows them
    client.force_login(csm)
    page = client.get(reverse("home")).content.decode()
    assert "Late 0" in page and "Late 9" in page and "Late 10" not in page and "Day 8" not in page


def test_empty_buckets_read_one_query(csm, today, django_assert_num_queries):
    with django_assert_num_queries(1):
        buckets = selectors.task_buckets(csm, csm, today)
    assert buckets == {key: {"count": 0, "rows": []} for key in ("overdue", "today", "week")}

"""The planner's estimate of a day of the daily table (migration usage.0005): a day not
yet in the statistics — the new day, right after its first batch — is estimated like the
stored days, not at one row (which made the 1M-account sweep join today's rows to every
account)."""

import re
from datetime import date, timedelta

import pytest
from django.db import connection

from usage.models import DailyUsage

from .fixtures import account, metric

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the planner's statistics: PostgreSQL"
)


def estimated_rows(metric_id: int, day: date) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN SELECT * FROM {DailyUsage._meta.db_table} WHERE metric_id = %s AND day = %s",
            [metric_id, day],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return int(re.search(r"rows=(\d+)", plan).group(1))


@pytest.mark.django_db
def test_a_day_not_yet_analyzed_is_estimated_like_the_stored_days():
    # Given 30 days of one metric for 200 accounts, analyzed
    logins = metric()
    accounts = [account() for _ in range(200)]
    first = date(2026, 10, 1)
    DailyUsage.objects.bulk_create(
        DailyUsage(account=a, metric=logins, day=first + timedelta(days=n), value=1)
        for a in accounts
        for n in range(30)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {DailyUsage._meta.db_table}")

    # When the planner estimates a stored day and the next, not yet analyzed, day
    stored = estimated_rows(logins.pk, first + timedelta(days=10))
    new = estimated_rows(logins.pk, first + timedelta(days=30))

    # Then both are about one day's rows (200), not one row
    assert 100 <= stored <= 400
    assert 100 <= new <= 400

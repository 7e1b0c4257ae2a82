"""Usage on the workspace pages: the account page's 90-day charts, the usage column of the
accounts list and my book (its sum, change, sparkline and sort), and that reading it costs
one query whatever the number of rows."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from usage.models import DailyUsage, MetricKind, UsageMetric
from workspace.tests.ui_world import build_world, make_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(csm, other_csm, manager, today):
    return build_world(csm=csm, other_csm=other_csm, manager=manager, today=today)


@pytest.fixture
def logins(db):
    return UsageMetric.objects.create(key="logins", label="Logins", unit="logins")


@pytest.fixture
def seats(db):
    return UsageMetric.objects.create(
        key="active_users", label="Active users", unit="users", kind=MetricKind.GAUGE
    )


def put(account, metric, today, values_by_age: dict[int, int]) -> None:
    """Daily rows for ``account``: {days before today: value}."""
    DailyUsage.objects.bulk_create(
        DailyUsage(account=account, metric=metric, day=today - timedelta(days=age), value=value)
        for age, value in values_by_age.items()
    )


def day_bars(html: str, metric_key: str) -> dict[str, Decimal]:
    """{day: value} of the bars in one metric's chart on the account page."""
    block = html.split(f'data-metric="{metric_key}"', 1)[1].split("</figure>", 1)[0]
    return {
        day: Decimal(value)
        for day, value in re.findall(r'data-day="([\d-]+)" data-value="([\d.]+)"', block)
    }


def table_rows(html: str, table_id: str) -> list[str]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    return body.split("<tr>")[1:]


# --- the account page --------------------------------------------------------------------------


def test_account_page_charts_each_metric_over_90_days_with_zero_days(
    client, csm, world, logins, seats, today
):
    # Given logins today, yesterday, on the window's first day (today-89) and one day
    # before it (today-90), and no active-user rows at all
    account = world.accounts[0]
    put(account, logins, today, {0: 5, 1: 3, 89: 7, 90: 100})
    client.force_login(csm)

    # When the CSM opens the account page
    response = client.get(reverse("account-detail", args=[account.id]))

    # Then each metric has a chart of exactly the last 90 days, missing days drawn as 0
    html = response.content.decode()
    bars = day_bars(html, "logins")
    assert len(bars) == 90
    assert min(bars) == (today - timedelta(days=89)).isoformat()
    assert max(bars) == today.isoformat()
    assert bars[today.isoformat()] == 5
    assert bars[(today - timedelta(days=1)).isoformat()] == 3
    assert bars[(today - timedelta(days=89)).isoformat()] == 7
    assert sum(bars.values()) == 15  # the row of today-90 is outside
    assert bars[(today - timedelta(days=2)).isoformat()] == 0
    gauge = day_bars(html, "active_users")
    assert len(gauge) == 90 and set(gauge.values()) == {0}
    # with labels and units: the metric, its unit, the 90-day total and the active days
    block = html.split('data-metric="logins"', 1)[1].split("</figure>", 1)[0]
    assert "Logins" in block and "(logins)" in block
    assert '<span class="usage-total">15</span>' in block
    assert '<span class="usage-days-active">3</span> of 90 days' in block
    assert f"{today.isoformat()}: 5 logins" in block  # the bar's own title
    assert 'aria-label="Logins per day' in block


def test_account_page_without_metrics_has_no_usage_section(client, csm, world):
    client.force_login(csm)
    response = client.get(reverse("account-detail", args=[world.accounts[0].id]))
    assert response.status_code == 200
    assert 'id="usage-h"' not in response.content.decode()


# --- the accounts list -------------------------------------------------------------------------


@pytest.fixture
def usage_world(world, logins, today):
    """Three of the CSM's accounts with known 30-day sums and previous sums."""
    first, second, third = world.accounts[:3]
    # first: 30 days = 10 + 30 = 40 (today, today-29); previous = 20 (today-30) → +100%
    put(first, logins, today, {0: 10, 29: 30, 30: 20})
    # second: 30 days = 90; nothing before → no change figure
    put(second, logins, today, {5: 90})
    # third: 30 days = 0; previous = 50 (today-59; today-60 is outside) → -100%
    put(third, logins, today, {59: 50, 60: 1000})
    return world


def test_accounts_list_shows_the_chosen_metrics_sum_change_and_sparkline(client, csm, usage_world):
    client.force_login(csm)
    first, second, third = usage_world.accounts[:3]

    response = client.get(reverse("account-list"), {"usage": "logins", "sort": "name"})

    html = response.content.decode()
    assert 'id="usage-column"' in html and "Logins, 30 days" in html
    rows = {name: row for row in table_rows(html, "accounts-table") for name in [_name(row)]}
    assert 'data-usage-sum="40"' in rows[first.name]
    assert "+100.0%" in rows[first.name]
    assert 'data-usage-sum="90"' in rows[second.name]
    assert "no earlier use" in rows[second.name]
    assert 'data-usage-sum="0"' in rows[third.name]
    assert "-100.0%" in rows[third.name]
    assert 'class="sparkline"' in rows[first.name]


def _name(row: str) -> str:
    return re.search(r'/accounts/\d+/">([^<]+)</a>', row).group(1)


def test_accounts_list_sorts_by_the_usage_column(client, csm, usage_world):
    client.force_login(csm)
    first, second, third = usage_world.accounts[:3]
    others = usage_world.accounts[3:] + usage_world.other_accounts  # no usage: 0

    descending = client.get(reverse("account-list"), {"usage": "logins", "sort": "-usage"})
    ascending = client.get(reverse("account-list"), {"usage": "logins", "sort": "usage"})

    names_down = [_name(row) for row in table_rows(descending.content.decode(), "accounts-table")]
    names_up = [_name(row) for row in table_rows(ascending.content.decode(), "accounts-table")]
    # most active first; the zeros after them, ties by id (descending: newest id first)
    zeros = sorted([third, *others], key=lambda a: a.id, reverse=True)
    assert names_down == [second.name, first.name, *(a.name for a in zeros)]
    assert names_up == [*(a.name for a in reversed(zeros)), first.name, second.name]
    assert 'aria-sort="descending"' in descending.content.decode().split('id="usage-column"')[1]


def test_usage_sort_without_a_metric_falls_back_to_name(client, csm, usage_world):
    client.force_login(csm)
    response = client.get(reverse("account-list"), {"sort": "-usage"})
    names = [_name(row) for row in table_rows(response.content.decode(), "accounts-table")]
    assert names == sorted(names)
    assert 'id="usage-column"' not in response.content.decode()


def test_usage_column_reads_in_one_query_whatever_the_rows(client, csm, usage_world, logins, today):
    client.force_login(csm)
    url = reverse("account-list") + "?usage=logins&sort=-usage"
    client.get(url)  # fills the cached reference lists (metrics, picklists)
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    for n in range(10, 30):
        account = make_account(n=n, owner=csm, today=today, prefix="Initech")
        put(account, logins, today, {n % 30: n})
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)
    assert response.status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)
    usage_reads = [q for q in large.captured_queries if "usage_dailyusage" in q["sql"]]
    assert len(usage_reads) == 2  # the sorted page, then the page's trends


def test_export_follows_the_usage_sort(client, csm, usage_world):
    client.force_login(csm)
    first, second = usage_world.accounts[:2]
    response = client.get(reverse("account-export"), {"usage": "logins", "sort": "-usage"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["name"] for row in rows[:2]] == [second.name, first.name]


# --- my book -----------------------------------------------------------------------------------


def test_my_book_shows_and_sorts_the_usage_column(client, csm, usage_world):
    client.force_login(csm)
    first, second, third = usage_world.accounts[:3]

    response = client.get(reverse("home"), {"usage": "logins", "sort": "-usage"})

    html = response.content.decode()
    assert 'id="usage-picker"' in html
    rows = table_rows(html, "book-table")
    assert [_name(row) for row in rows[:2]] == [second.name, first.name]
    assert 'data-usage-sum="90"' in rows[0] and "no earlier use" in rows[0]
    assert 'data-usage-sum="40"' in rows[1] and "+100.0%" in rows[1]
    # the default order (soonest renewal first) and no column without a metric
    plain = client.get(reverse("home")).content.decode()
    assert 'id="usage-column"' not in plain
    assert [_name(row) for row in table_rows(plain, "book-table")][0] == first.name

"""Health on the workspace pages and the renewal queue: the status-coloured badge (my book,
accounts list, renewal queue), the list's health filter and score sort, the queue's ARR at
risk and its sorts, the account page's breakdown, "what moved the score", the trend chart
and the manual score form (own accounts only)."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from health.models import ManualEntry
from playbooks.models import RenewalQueueEntry

from .health_world import EXPECTED, build_health_world
from .ui_world import queries_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(csm, other_csm, manager, today):
    return build_health_world(csm=csm, other_csm=other_csm, manager=manager, today=today)


def _badges(html: str) -> dict[str, tuple[str, str]]:
    """Account name → (score, status) of each row's badge."""
    rows = re.findall(
        r'<a href="/accounts/\d+/">([^<]+)</a>.*?<span class="health \w+" '
        r'data-health-status="(\w+)"[^>]*>(\d+)',
        html,
        flags=re.S,
    )
    return {name: (score, status) for name, status, score in rows}


def test_the_world_scores_as_worked_out_by_hand(world):
    assert [(a.health_score, a.health.status) for a in world.accounts] == list(EXPECTED)


def test_my_book_shows_each_accounts_score_in_its_status_colour(client, csm, world):
    client.force_login(csm)

    response = client.get(reverse("home"))

    badges = _badges(response.content.decode())
    for account, (score, status) in zip(world.accounts, EXPECTED, strict=True):
        assert badges[account.name] == (str(score), status)
    assert 'class="health poor" data-health-status="red"' in response.content.decode()


def test_accounts_list_filters_by_status_and_sorts_by_score(client, csm, world):
    client.force_login(csm)

    red = client.get(reverse("account-list"), {"health": "red", "sort": "health"})
    yellow = client.get(reverse("account-list"), {"health": "yellow", "sort": "-health"})

    assert list(_badges(red.content.decode())) == [world.accounts[1].name, world.accounts[3].name]
    assert list(_badges(yellow.content.decode())) == [
        world.accounts[4].name,  # 67
        world.accounts[2].name,  # 53
    ]


def test_accounts_list_not_scored_filter_and_bad_filter_value(client, csm, world):
    client.force_login(csm)
    world.accounts[0].health.delete()

    unscored = client.get(reverse("account-list"), {"health": "none"})
    bad = client.get(reverse("account-list"), {"health": "purple"})

    assert "1 account" in unscored.content.decode()
    assert world.accounts[0].name in unscored.content.decode()
    assert bad.status_code == 200  # a bad value is reported by the form, the rest still apply
    assert "Select a valid choice" in bad.content.decode()


def test_badges_cost_one_query_per_page_whatever_the_number_of_rows(client, manager, world):
    client.force_login(manager)
    few = queries_for(client, reverse("account-list") + "?q=Globex")  # 3 rows
    many = queries_for(client, reverse("account-list"))  # 8 rows

    assert many == few


def test_renewal_queue_shows_health_and_arr_at_risk_and_sorts_by_it(client, manager, world):
    client.force_login(manager)
    tightest = {"window": "tightest", "csm": "__all__"}

    by_date = client.get(reverse("renewal-queue"), tightest)
    at_risk = client.get(reverse("renewal-queue"), {**tightest, "sort": "at_risk"})
    by_score = client.get(reverse("renewal-queue"), {**tightest, "sort": "health"})

    # red accounts[1] (ARR 11,000) and yellow accounts[2] (12,000) are at risk
    assert by_date.context["totals"]["arr_at_risk"] == Decimal("23000.00")
    assert 'id="renewal-arr-at-risk">$23,000<' in by_date.content.decode()
    names = [e.account.name for e in at_risk.context["entries"]]
    a = world.accounts
    # the largest ARR at risk first, then the rest with the tightest renewal first
    assert names[:3] == [a[2].name, a[1].name, a[0].name]
    assert set(names[3:]) == {o.name for o in world.other_accounts}
    assert [e.health_status for e in at_risk.context["entries"]][:2] == ["yellow", "red"]
    scores = [e.health_score for e in by_score.context["entries"]]
    assert scores == sorted(scores) and scores[0] == 33
    assert _badges(by_date.content.decode())[a[1].name] == ("33", "red")
    assert RenewalQueueEntry.objects.filter(account=a[1]).exists()


def test_renewal_queue_ignores_an_unknown_sort(client, manager, world):
    client.force_login(manager)

    response = client.get(reverse("renewal-queue"), {"sort": "drop table"})

    assert response.status_code == 200
    assert response.context["filters"]["sort"] == ""


def test_account_page_shows_the_breakdown_trend_and_what_moved(client, csm, world, today):
    client.force_login(csm)
    account = world.accounts[1]

    response = client.get(reverse("account-detail", args=[account.id]))

    page = response.content.decode()
    breakdown = page[
        page.index('id="health-breakdown"') : page.index(
            "</table>", page.index('id="health-breakdown"')
        )
    ]
    # tickets: 5 → 50 × 2/3 = 33.33; champion: no → 0; sentiment: left out
    assert re.search(
        r'data-measure="tickets".*?<td>5</td>.*?>50<.*?>2<.*?>33\.33<', breakdown, re.S
    )
    assert re.search(r'data-measure="champion".*?does not match.*?>0<', breakdown, re.S)
    assert re.search(
        r'data-measure="sentiment".*?no valid score entered.*?left out', breakdown, re.S
    )
    # the trend: two changes, 40 days ago (67) and today (33)
    points = re.findall(r'class="health-change" data-day="([\d-]+)" data-score="(\d+)"', page)
    assert [score for _, score in points] == ["67", "33"]
    # what moved (last 30 days by default): tickets lost 33.34 points
    assert 'id="health-score-change" class="bad">-34<' in page
    assert re.search(r'data-measure="tickets">.*?data-change>-33\.34<', page, re.S)
    # the CSM may enter a manual score here
    assert 'id="health-manual-form"' in page


def test_what_moved_between_two_chosen_dates_and_bad_dates(client, csm, world, today):
    client.force_login(csm)
    url = reverse("account-health-changes", args=[world.accounts[1].id])
    before = (today.replace(day=1)).isoformat()

    same = client.get(url, {"from": before, "to": before})
    bad = client.get(url, {"from": "yesterday"})
    reversed_ = client.get(url, {"from": today.isoformat(), "to": before})

    assert (
        same.status_code == 200 and 'id="health-score-change" class="">0<' in same.content.decode()
    )
    assert bad.status_code == 400 and "From: expected a date" in bad.content.decode()
    assert reversed_.status_code == 400
    assert "From must be on or before To" in reversed_.content.decode()


def test_a_csm_enters_a_manual_score_on_their_own_account(client, csm, world, today):
    client.force_login(csm)
    account = world.accounts[2]

    response = client.post(
        reverse("account-health-manual", args=[account.id]),
        {"measure": "sentiment", "score": "90", "comment": "Great QBR"},
    )

    assert response.status_code == 302
    entry = ManualEntry.objects.get(account=account)
    assert (entry.score, entry.comment, entry.entered_by, entry.entered_on) == (
        90,
        "Great QBR",
        csm,
        today,
    )
    page = client.get(reverse("account-detail", args=[account.id])).content.decode()
    assert "valid until" in page and "Great QBR" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"measure": "sentiment", "score": "101"}, "score", "less than or equal to 100"),
        ({"measure": "sentiment", "score": "-1"}, "score", "greater than or equal to 0"),
        ({"measure": "sentiment", "score": "x"}, "score", "Enter a whole number"),
        ({"measure": "tickets", "score": "50"}, "measure", "Select a valid choice"),
    ],
)
def test_bad_manual_scores_are_form_errors_and_nothing_is_stored(
    client, csm, world, data, field, message
):
    client.force_login(csm)

    response = client.post(reverse("account-health-manual", args=[world.accounts[0].id]), data)

    assert response.status_code == 400
    assert message in " ".join(response.context["health_manual_form"].errors[field])
    assert not ManualEntry.objects.exists()


def test_a_csm_cannot_score_another_csms_account_but_a_manager_can(client, csm, manager, world):
    # Given another CSM's account
    client.force_login(csm)
    other = world.other_accounts[0]
    url = reverse("account-health-manual", args=[other.id])

    # When the CSM posts a score for it, then a manager does
    refused = client.post(url, {"measure": "sentiment", "score": "50"})
    refused_stored = ManualEntry.objects.exists()
    page = client.get(reverse("account-detail", args=[other.id])).content.decode()
    client.force_login(manager)
    accepted = client.post(url, {"measure": "sentiment", "score": "50"})

    # Then the CSM gets the form back with an error naming the account, nothing stored
    assert refused.status_code == 400
    assert not refused_stored
    body = refused.content.decode()
    errors = refused.context["health_manual_form"].non_field_errors()
    assert f"{other.name}: you may enter health scores only" in " ".join(errors)
    assert 'role="alert"' in body and f"{other.name}: you may enter" in body
    assert 'id="health-manual-form"' not in page
    assert accepted.status_code == 302
    assert list(ManualEntry.objects.values_list("account_id", "entered_by__username")) == [
        (other.id, "manager")
    ]

"""The four pages of the CSM's day (my book, the accounts list, an account, the renewal
queue) at a bounded number of queries whatever the rows, and what they cache shown fresh
on the next load after a change (docs/csm-day.md, "What the pages cache")."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse

from customers import services as customer_services
from customers.models import Account
from playbooks import services as playbook_services
from playbooks.models import RenewalWindow, Task
from playbooks.views import ROWS_PER_PAGE
from segments import services as segment_services
from workspace.tests.ui_world import build_world, make_account, queries_for

pytestmark = pytest.mark.django_db

# The most queries each page may make on a cold cache, whatever the number of rows: the
# session, the user and its role (3), then the page's own reads. An N+1 coming back (a
# query per row) goes far past these with 40 accounts, their tasks and renewals.
MAX_QUERIES = {
    "home": 17,
    "account-list": 17,
    "account-detail": 30,
    "renewal-queue": 10,
}


@pytest.fixture(name="big_world")
def big_world_fixture(csm, other_csm, manager, today):
    world = build_world(csm=csm, other_csm=other_csm, manager=manager, today=today)
    for n in range(5, 45):
        account = make_account(n=n, owner=csm, today=today, renews_in_days=5 + n, plan="enterprise")
        playbook_services.task_create(
            account=account,
            title=f"Task {n}",
            due_date=today + timedelta(days=n % 9 - 3),
            assignee=csm,
            by=csm,
        )
        customer_services.note_create(account=account, author=csm, body=f"Note {n}", kind="note")
    playbook_services.renewal_queue_rebuild(today=today)
    return world


def _urls(world) -> dict[str, str]:
    return {
        "home": reverse("home"),
        "account-list": reverse("account-list") + "?page=1&sort=-health",
        "account-detail": reverse("account-detail", args=[world.accounts[0].pk]),
        "renewal-queue": reverse("renewal-queue"),
    }


@pytest.mark.parametrize("page", list(MAX_QUERIES))
def test_each_page_stays_within_its_queries_cold_and_warm(client, csm, big_world, page):
    # Given 45 accounts, 40 tasks and notes and their renewals in the book
    client.force_login(csm)
    url = _urls(big_world)[page]
    # When the page is read with an empty cache, then again with what it cached
    cold = queries_for(client, url)
    warm = queries_for(client, url, cold=False)
    # Then neither goes past the page's bound, and the cache only saves queries
    assert cold <= MAX_QUERIES[page], f"{page}: {cold} queries cold"
    assert warm <= cold


@pytest.mark.parametrize("sort", ["name", "-arr", "renewal", "-health", "csm", "-csm"])
def test_accounts_list_sorts_stay_within_their_queries(client, csm, big_world, sort):
    client.force_login(csm)
    url = reverse("account-list") + f"?page=2&sort={sort}&csm="
    assert queries_for(client, url) <= MAX_QUERIES["account-list"]


def test_my_book_renewals_follow_the_next_queue_build(client, csm, big_world, today):
    # Given my book read once (its renewals by window are cached)
    client.force_login(csm)
    before = client.get(reverse("home")).context["renewals"]
    overdue_before = before["overdue"]["contracts"]
    # When a contract of mine becomes overdue and the queue is rebuilt
    account = big_world.accounts[1]
    contract = account.contracts.get()
    customer_services.contract_update(
        contract=contract, data={"end_date": today - timedelta(days=3)}
    )
    playbook_services.renewal_queue_rebuild(today=today)
    # Then the next load counts it, without waiting for the cache to expire
    after = client.get(reverse("home")).context["renewals"]
    assert after["overdue"]["contracts"] == overdue_before + 1


def test_my_book_next_renewals_show_a_renamed_account_at_once(client, csm, big_world):
    client.force_login(csm)
    upcoming = client.get(reverse("home")).context["renewals"]["upcoming"]
    first = Account.objects.get(pk=upcoming[0].account_id)
    # When the account is renamed (no queue build: nothing in the queue changed)
    customer_services.account_update(account=first, data={"name": "Renamed Corp"})
    # Then the next load of my book shows the new name
    response = client.get(reverse("home"))
    assert response.context["renewals"]["upcoming"][0].account.name == "Renamed Corp"
    assert b"Renamed Corp" in response.content


def test_my_book_renewals_follow_a_renamed_window(client, csm, big_world):
    client.force_login(csm)
    client.get(reverse("home"))
    RenewalWindow.objects.filter(days=90).update(name="Ninety days out")
    windows = client.get(reverse("home")).context["renewals"]["windows"]
    assert "Ninety days out" in {window["name"] for window in windows}


def test_a_completed_task_leaves_my_book_on_the_next_load(client, csm, big_world):
    client.force_login(csm)
    assert b"Call the champion" in client.get(reverse("home")).content
    playbook_services.task_complete(task=big_world.csm_task, by=csm)
    assert b"Call the champion" not in client.get(reverse("home")).content


def test_renewal_queue_totals_and_pages_count_the_same_rows(client, csm, big_world, today):
    # Given more renewals than a page holds
    for n in range(100, 130):
        make_account(n=n, owner=csm, today=today, renews_in_days=50)
    playbook_services.renewal_queue_rebuild(today=today)
    client.force_login(csm)
    # When both pages of the queue are read
    first = client.get(reverse("renewal-queue"))
    second = client.get(reverse("renewal-queue"), {"page": 2})
    # Then the count from the totals' query is the number of rows the pages show
    entries = first.context["entries"] + second.context["entries"]
    assert first.context["page"].paginator.count == len(entries) > ROWS_PER_PAGE
    assert first.context["totals"]["arr"] == sum((e.arr for e in entries), Decimal(0))


def test_account_filter_bar_offers_a_new_segment_and_keeps_the_chosen_values(
    client, csm, manager, big_world
):
    # Given the accounts list read once (its filter bar is cached)
    client.force_login(csm)
    url = reverse("account-list")
    assert b"Brand new segment" not in client.get(url, {"csm": ""}).content
    # When a segment is created
    segment_services.segment_create(
        name="Brand new segment",
        rule={"all": [{"field": "plan", "op": "eq", "value": "pro"}]},
        publish=False,
        created_by=manager,
    )
    # Then the next load offers it, and a filtered load shows its own values selected
    assert b"Brand new segment" in client.get(url, {"csm": ""}).content
    filtered = client.get(url, {"csm": "", "plan": "pro", "q": "Acme"}).content.decode()
    assert 'value="Acme"' in filtered
    assert '<option value="pro" selected>' in filtered


def test_accounts_list_shows_a_change_to_an_account_on_the_next_load(client, csm, big_world):
    client.force_login(csm)
    url = reverse("account-list")
    client.get(url, {"csm": "", "sort": "name"})
    account = big_world.accounts[0]
    customer_services.account_update(account=account, data={"name": "Aaa first now"})
    rows = client.get(url, {"csm": "", "sort": "name"}).context["account_rows"]
    assert rows[0][0].name == "Aaa first now"


def test_filtered_accounts_list_counts_exactly_at_once(client, csm, big_world, today):
    # Given the list of every account and my book's list read once
    client.force_login(csm)
    url = reverse("account-list")
    mine = client.get(url, {"csm": csm.username}).context["page"].paginator.count
    every = client.get(url, {"csm": ""}).context["page"].paginator.count
    # When an account is added to my book
    make_account(n=900, owner=csm, today=today)
    # Then my book's list counts it at once (a filtered list is counted exactly) ...
    assert client.get(url, {"csm": csm.username}).context["page"].paginator.count == mine + 1
    # ... and the list of every account once its cached count expires
    cached = client.get(url, {"csm": ""}).context["page"].paginator.count
    assert cached in (every, every + 1)
    cache.clear()
    assert client.get(url, {"csm": ""}).context["page"].paginator.count == every + 1


def test_task_rows_keep_their_actions_and_read_only_marks(client, csm, other_csm, big_world):
    client.force_login(csm)
    content = client.get(reverse("task-list"), {"assignee": "__all__"}).content.decode()
    task = big_world.csm_task
    assert f'id="task-{task.pk}"' in content
    assert f'aria-label="Mark done: {task.title}"' in content
    assert 'name="csrfmiddlewaretoken"' in content
    assert "read-only" in content  # the other CSM's task
    assert Task.objects.filter(assignee=other_csm).exists()

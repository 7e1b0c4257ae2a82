"""Issue 20 in a real browser (Playwright + Debian's Chromium): live figures after
"recompute now" and "rebuild now", one open task when a renewal enters T-90, a forecast
and an outcome, bulk-completed tasks, a saved view reopened, the global search, and the
import of a file with ``arr``. Celery runs eagerly (``eager_tasks``): the queued work runs
at the commit of the request that queued it, and the page's status line then finds it
done. ``window.__sameDocument`` is set before an action and read after it: a full reload
would clear it."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from customers.models import Account, Contract
from playbooks.models import Renewal, Task
from workspace.tests.ui_world import build_world

from .chromium import HAVE_CHROMIUM, NO_CHROMIUM
from .test_ui import assert_accessible_controls, log_in

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM)]

expect = pytest.importorskip("playwright.sync_api").expect

DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def renewals_built_at_once(settings) -> None:
    """The renewal build after a change is debounced (a due time in the outbox, which a
    relay sends); with no debounce it runs at the commit (in-process under eager_tasks)."""
    settings.RENEWAL_REBUILD_DEBOUNCE_SECONDS = 0


@pytest.fixture
def world(transactional_db, csm, other_csm, manager, today):
    from playbooks.models import RenewalWindow

    for days in (120, 90):
        RenewalWindow.objects.get_or_create(days=days, defaults={"name": f"T-{days}"})
    return build_world(csm=csm, other_csm=other_csm, manager=manager, today=today)


def mark_document(page) -> None:
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def test_recompute_now_updates_the_figures_without_a_reload(eager_tasks, world, live_server, page):
    # Given the Enterprise segment's page, and two more accounts that became enterprise
    # behind its back (a raw update: no sweep)
    Account.objects.filter(name__in=["Acme 001", "Acme 003"]).update(plan="enterprise")
    log_in(page, live_server, "manager")
    page.goto(f"{live_server.url}/segments/{world.segment.pk}/")
    expect(page.locator("#member-count")).to_have_text("6")
    before = page.locator("#last-computed").inner_text()
    mark_document(page)

    # When the manager clicks "Recompute now"
    page.get_by_role("button", name="Recompute now").click()

    # Then the status line says it finished and the figures change in place
    expect(page.locator("#recompute-status")).to_contain_text("Recomputed")
    expect(page.locator("#member-count")).to_have_text("8")
    expect(page.locator("#last-computed")).not_to_have_text(before)
    expect(page.locator("#members")).to_contain_text("Acme 001")
    assert_same_document(page)


def test_a_renewal_entering_t90_leaves_one_open_task_and_the_queue_updates_live(
    eager_tasks, world, live_server, page, today
):
    # Given Acme 002's contract at 100 days (its T-120 task open), moved to 80 days
    contract = Contract.objects.get(account__name="Acme 002")
    assert list(Task.objects.filter(contract=contract).values_list("window__days", "status")) == [
        (120, "open")
    ]
    Contract.objects.filter(pk=contract.pk).update(end_date=today + timedelta(days=80))
    log_in(page, live_server, "manager")
    page.goto(f"{live_server.url}/renewals/?csm=csm")
    row = page.locator("#renewals-table tbody tr", has_text="Acme 002")
    expect(row).to_contain_text("T-120")
    mark_document(page)

    # When the manager rebuilds the queue
    page.get_by_role("button", name="Rebuild now").click()

    # Then the queue shows the contract under T-90 without a reload
    expect(page.locator("#rebuild-status")).to_contain_text("Rebuild finished")
    expect(row).to_contain_text("T-90")
    assert_same_document(page)
    # And the renewal has one open task, the T-90 one; the T-120 task was closed
    tasks = dict(Task.objects.filter(contract=contract).values_list("window__days", "status"))
    assert tasks == {120: "cancelled", 90: "open"}
    page.goto(f"{live_server.url}/accounts/{contract.account_id}/")
    timeline = page.locator("#timeline-list")
    expect(timeline).to_contain_text("Renewal prep task closed")
    expect(timeline).to_contain_text("the renewal moved into T-90")


def test_record_a_forecast_and_an_outcome(eager_tasks, world, live_server, page):
    contract = Contract.objects.get(account__name="Acme 001")
    log_in(page, live_server, "csm")
    page.get_by_role("link", name="Renewals", exact=True).click()
    page.locator("#renewals-table tbody tr", has_text="Acme 001").get_by_role(
        "link", name="Forecast / close"
    ).click()
    expect(page.get_by_role("heading", name="Renewal: Acme 001")).to_be_visible()
    assert_accessible_controls(page)

    # When the owner forecasts it at risk at $9,000
    page.get_by_label("Forecast", exact=True).select_option("at_risk")
    page.get_by_label("Expected ARR").fill("9000")
    page.get_by_role("button", name="Save forecast").click()
    expect(page.locator("#renewal-forecast")).to_have_text("Forecast: At risk")
    expect(page.locator("#expected-arr")).to_have_text("$9,000")

    # And then records it renewed at $11,500
    page.get_by_label("Outcome").select_option("renewed")
    page.get_by_label("New ARR").fill("11500")
    page.get_by_role("button", name="Record the outcome").click()
    expect(page.locator("#renewal-outcome")).to_have_text("Renewed")
    expect(page.locator("#outcome-summary")).to_contain_text("$11,500 ARR")
    renewal = Renewal.objects.get(contract=contract)
    assert (renewal.forecast, renewal.outcome) == ("at_risk", "renewed")
    assert renewal.new_contract.arr == 11500
    assert not Task.objects.filter(contract=contract, status="open").exists()


def test_bulk_complete_tasks(world, live_server, page):
    log_in(page, live_server, "csm")
    page.get_by_role("link", name="Tasks", exact=True).click()
    mine = list(
        Task.objects.filter(assignee__username="csm", status="open").order_by("due_date", "id")
    )[:2]
    for task in mine:
        page.get_by_label(f"Select {task.title}").check()
    expect(page.locator("[data-selected-count]")).to_have_text("2")
    page.get_by_label("Action").select_option("complete")
    page.get_by_role("button", name="Apply to selection").click()
    expect(page.locator(".messages")).to_contain_text("Completed 2 tasks.")
    for task in mine:
        task.refresh_from_db()
        assert task.status == "done"


def test_save_a_view_and_reopen_it(world, live_server, page):
    log_in(page, live_server, "csm")
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_label("Plan", exact=True).select_option("enterprise")
    expect(page).to_have_url(re.compile(r"plan=enterprise"))
    page.get_by_text("Columns", exact=True).click()
    page.get_by_label("Industry column").check()
    expect(page.locator("#accounts-table thead")).to_contain_text("Industry")
    page.get_by_text("Save this view…").click()
    page.get_by_label("Name", exact=True).fill("My enterprise accounts")
    page.get_by_label("Share with the team").check()
    page.get_by_role("button", name="Save view").click()
    expect(page.locator(".messages")).to_contain_text("saved and shared with the team")

    # When they go elsewhere and reopen the view
    page.get_by_role("link", name="My book").click()
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_role("link", name="My enterprise accounts").click()

    # Then its filters and columns are back
    expect(page.get_by_label("Plan", exact=True)).to_have_value("enterprise")
    expect(page.locator("#accounts-table thead")).to_contain_text("Industry")
    expect(page.locator("#accounts-table tbody tr")).to_have_count(3)  # Acme 000, 002, 004


def test_global_search_finds_an_account_by_part_of_its_name(world, live_server, page):
    log_in(page, live_server, "csm")
    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type("lobex 00")
    results = page.locator("#global-search-results")
    expect(results).to_contain_text("Globex 001")
    results.get_by_role("option", name="Globex 001").click()
    expect(page.get_by_role("heading", name="Globex 001", level=1)).to_be_visible()


def test_the_import_page_imports_a_file_with_arr_and_the_contract_shows(
    renewals_built_at_once, eager_tasks, world, live_server, page, tmp_path
):
    upload = tmp_path / "accounts.csv"
    upload.write_text(
        "external_id,name,plan,arr,renewal_date,csm\n"
        "new-1,Initech,enterprise,120000,2027-02-15,csm\n"
        "new-2,Bad Row,pro,abc,,\n",
        encoding="utf-8",
    )
    log_in(page, live_server, "manager")
    page.goto(f"{live_server.url}/accounts/?csm=")
    page.get_by_role("link", name="Import CSV").click()
    expect(page.locator("#import-columns")).to_contain_text("arr")
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_label("Dry run: check every row and report, write nothing").uncheck()
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-summary")).to_contain_text("created 1")
    expect(page.locator("#import-errors")).to_contain_text("got 'abc'")
    account = Account.objects.get(external_id="new-1")
    page.goto(f"{live_server.url}/accounts/{account.pk}/")
    expect(page.locator("#contracts-table")).to_contain_text("$120,000")
    # and the contract reached the Enterprise segment and the renewal queue by itself
    assert account.memberships.filter(segment=world.segment).exists()
    assert account.renewal_entries.exists()


# The elements that stick out of the page on the right (for the failure message).
WIDER_THAN_THE_PAGE = """() => { const w = document.documentElement.clientWidth;
  return Array.from(document.querySelectorAll('body *')).filter(el => {
    const r = el.getBoundingClientRect();
    return (r.right > w + 1 || el.scrollWidth > el.clientWidth + 1)
      && getComputedStyle(el).overflowX === 'visible'
      && !(el.parentElement && el.parentElement.closest('.table-wrap'));
  }).slice(0, 8).map(el => el.outerHTML.slice(0, 120)); }"""

PAGES = [
    ("my-book", "csm", "/"),
    ("accounts", "csm", "/accounts/?csm="),
    ("account", "csm", "/accounts/{account}/"),
    ("renewals", "csm", "/renewals/"),
    ("renewal", "csm", "/renewals/{contract}/"),
    ("forecast", "manager", "/renewals/forecast/"),
    ("tasks", "csm", "/tasks/"),
    ("search", "csm", "/search/?q=acme"),
    ("segment", "manager", "/segments/{segment}/"),
    ("import", "manager", "/accounts/import/"),
]


@pytest.mark.parametrize("width", [1280, 390])
def test_main_pages_fit_and_screenshots(world, live_server, page, width, screenshot):
    """Each main page fits the width (no sideways scrolling of the page) at 1280 px and
    390 px. With ``CS_DOC_SCREENSHOTS=1`` the screenshots go to docs/screenshots/."""
    account = Account.objects.get(name="Acme 000")
    ids = {
        "account": account.pk,
        "contract": account.contracts.get().pk,
        "segment": world.segment.pk,
    }
    page.set_viewport_size({"width": width, "height": 900})
    user = None
    for name, username, path in PAGES:
        if username != user:
            page.context.clear_cookies()
            log_in(page, live_server, username)
            user = username
        page.goto(live_server.url + path.format(**ids))
        expect(page.locator("h1")).to_be_visible()
        if os.environ.get("CS_DOC_SCREENSHOTS") == "1":
            DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(DOC_SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        else:
            screenshot(page, f"issue20-{name}-{width}")
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, (name, overflow, page.evaluate(WIDER_THAN_THE_PAGE))

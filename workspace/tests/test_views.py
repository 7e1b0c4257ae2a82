"""My book, the accounts list (filters, sort, pages, CSV), account detail, explain, notes:
what the pages show, who may write, and that query counts do not grow with rows."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse

from customers.models import Account, Note
from workspace.tests.ui_world import (
    build_world,
    make_account,
    queries_for,
    world_fixture,  # noqa: F401 (the ``world`` fixture)
)

pytestmark = pytest.mark.django_db


# --- login ---------------------------------------------------------------------------------


def test_every_page_requires_login(client, world):
    # Given an anonymous visitor
    for url in (
        reverse("home"),
        reverse("account-list"),
        reverse("account-export"),
        reverse("account-detail", args=[world.accounts[0].id]),
    ):
        # When they open a page, then they are sent to the login page
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_login_page_logs_in_and_lands_on_my_book(client, csm, world):
    response = client.post(reverse("login"), {"username": "csm", "password": "pw-csm"}, follow=True)
    assert response.status_code == 200
    assert b"My book" in response.content
    assert world.accounts[0].name.encode() in response.content


# --- my book -------------------------------------------------------------------------------


def test_my_book_shows_my_accounts_tasks_and_renewals_by_window(client, csm, world):
    client.force_login(csm)
    response = client.get(reverse("home"))
    body = response.content.decode()
    # My accounts (and not the other CSM's), with segments
    for account in world.accounts:
        assert account.name in body
    assert "Globex" not in body
    assert "Enterprise" in body
    # My task due today, not the other CSM's
    assert "Call the champion" in body
    assert "Send QBR deck" not in body
    # Renewals: 30 and 80 days out are under T-90 (the tightest), 100 under T-120
    renewals = response.context["renewals"]
    by_window = {w["days"]: w for w in renewals["windows"]}
    assert by_window[90]["contracts"] == 2
    assert by_window[120]["contracts"] == 1
    assert by_window[90]["arr"] == 10000 + 11000


def test_manager_home_shows_team_overview_and_picks_a_csm(client, manager, csm, world):
    client.force_login(manager)
    response = client.get(reverse("home"))
    team = {member.username: member for member in response.context["team"]}
    assert team["csm"].n_accounts == 5
    assert team["other_csm"].n_accounts == 3
    assert team["other_csm"].n_overdue >= 1
    # the team's renewals: csm's two T-90 contracts and other_csm's three
    by_window = {w["days"]: w["contracts"] for w in response.context["renewals"]["windows"]}
    assert by_window == {90: 5, 120: 1}
    # When the manager picks a CSM, they see that CSM's book
    response = client.get(reverse("home"), {"csm": "other_csm"})
    body = response.content.decode()
    assert "Globex 000" in body
    assert "Acme 000" not in body
    assert "Send QBR deck" in body


def test_csm_cannot_look_at_another_book_through_the_picker(client, csm, world):
    client.force_login(csm)
    response = client.get(reverse("home"), {"csm": "other_csm"})
    assert "Globex" not in response.content.decode()


def test_my_book_query_count_does_not_grow_with_the_book(client, csm, other_csm, manager, today):
    build_world(csm=csm, other_csm=other_csm, manager=manager, today=today, n_accounts=5)
    client.force_login(csm)
    few = queries_for(client, reverse("home"))
    for n in range(5, 50):
        make_account(n=n, owner=csm, today=today, renews_in_days=20 + n, plan="enterprise")
    many = queries_for(client, reverse("home"))
    assert many == few


# --- accounts list -------------------------------------------------------------------------


def test_accounts_search_filters_and_sort(client, csm, world):
    client.force_login(csm)
    url = reverse("account-list")

    def names(**params) -> list[str]:
        response = client.get(url, params)
        assert response.status_code == 200
        return [account.name for account, _ in response.context["account_rows"]]

    assert names(q="globex1") == ["Globex 001"]  # by domain
    assert names(q="Acme 00") == [f"Acme {n:03d}" for n in range(5)]
    assert names(segment=world.segment.id, csm="csm") == ["Acme 000", "Acme 002", "Acme 004"]
    assert names(plan="pro", csm="csm") == ["Acme 001", "Acme 003"]
    assert names(renewal="90", csm="csm") == ["Acme 000", "Acme 001"]
    assert names(csm="__none__") == []
    assert names(csm="csm", sort="-arr")[:2] == ["Acme 004", "Acme 003"]
    assert names(csm="csm", sort="renewal")[0] == "Acme 000"


def test_accounts_bad_filter_values_are_reported_not_500(client, csm, world):
    client.force_login(csm)
    response = client.get(
        reverse("account-list"), {"sort": "password", "plan": "gold", "q": "Acme"}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "sort" in form.errors and "plan" in form.errors
    # the valid filter still applies
    assert len(response.context["account_rows"]) == 5


def test_accounts_pagination(client, csm, other_csm, manager, today):
    for n in range(55):
        make_account(n=n, owner=csm, today=today)
    client.force_login(csm)
    first = client.get(reverse("account-list"), {"csm": ""})
    second = client.get(reverse("account-list"), {"csm": "", "page": 2})
    assert len(first.context["account_rows"]) == 50
    assert len(second.context["account_rows"]) == 5
    assert "Next" in first.content.decode()


@pytest.mark.parametrize(
    "sort", ["csm", "-csm", "-health", "health", "-renewal", "renewal", "-plan", "name", "-arr"]
)
def test_accounts_pages_follow_the_single_query_order(
    client, csm, other_csm, manager, today, monkeypatch, sort
):
    # Given accounts of two CSMs and unassigned ones, some with no health score or no
    # renewal date, and pages of 4 so pages span the parts a sort is read in
    from customers import selectors
    from customers.models import Account
    from workspace import views
    from workspace.forms import ACCOUNT_SORTS

    for n in range(7):
        make_account(n=n, owner=csm, today=today, renews_in_days=10 + n % 3)
    for n in range(5):
        make_account(n=n, owner=other_csm, today=today, prefix="Globex")
    for n in range(4):
        make_account(n=n, owner=None, today=today, prefix="Initech")
    Account.objects.filter(name__in=["Acme 001", "Globex 002", "Initech 003"]).update(
        health_score=None, renewal_date=None
    )
    monkeypatch.setattr(views, "ACCOUNTS_PER_PAGE", 4)
    client.force_login(manager)
    column = ACCOUNT_SORTS[sort.lstrip("-")][1]
    ordered = selectors.accounts_ordered(
        Account.objects.all(), column=column, descending=sort.startswith("-")
    )
    expected = [a.id for a in ordered]

    # When every page is read
    seen, counts = [], set()
    for number in range(1, 5):
        url = reverse("account-list") + f"?sort={sort}&page={number}"
        counts.add(queries_for(client, url))
        response = client.get(url)
        seen += [account.id for account, _ in response.context["account_rows"]]
        assert response.context["page"].paginator.count == 16

    # Then the pages hold the order of one ORDER BY (unknown values last both ways), and
    # each page costs the same number of queries
    assert seen == expected
    assert len(counts) == 1


def test_accounts_list_htmx_returns_the_results_fragment(client, csm, world):
    client.force_login(csm)
    response = client.get(reverse("account-list"), {"q": "Globex"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body
    assert "Globex 000" in body and "Acme" not in body


def test_accounts_list_query_count_does_not_grow_with_rows(client, csm, other_csm, manager, today):
    build_world(csm=csm, other_csm=other_csm, manager=manager, today=today, n_accounts=5)
    client.force_login(csm)
    url = reverse("account-list") + "?csm=csm"
    few = queries_for(client, url)
    for n in range(5, 50):
        make_account(n=n, owner=csm, today=today, plan="enterprise")
    many = queries_for(client, url)
    assert many == few


def test_csv_export_streams_the_filtered_list(client, csm, world):
    client.force_login(csm)
    response = client.get(reverse("account-export"), {"segment": world.segment.id})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["id", "external_id", "name"]
    assert rows[0][-2:] == ["csm", "segments"]
    names = sorted(row[2] for row in rows[1:])
    assert names == ["Acme 000", "Acme 002", "Acme 004", "Globex 000", "Globex 001", "Globex 002"]
    assert all(row[-1] == "Enterprise" for row in rows[1:])


def test_csv_export_reads_in_bounded_chunks(client, csm, world, monkeypatch):
    # Given a chunk smaller than the export, when exporting, then every row is still there
    from workspace import export

    monkeypatch.setattr(export, "CSV_CHUNK", 2)
    client.force_login(csm)
    response = client.get(reverse("account-export"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1 + 8


# --- account detail ------------------------------------------------------------------------


def test_account_detail_shows_everything(client, csm, world):
    account = world.accounts[0]
    client.force_login(csm)
    response = client.get(reverse("account-detail", args=[account.id]))
    body = response.content.decode()
    assert account.name in body
    assert "Enterprise" in body  # segment
    assert reverse("segment-explain", args=[world.segment.id, account.id]) in body
    assert "Call the champion" in body  # open task
    assert "Kickoff went well." in body  # note on the timeline
    kinds = {item.kind for item in response.context["timeline"]}
    assert {"meeting", "segment", "task", "owner"} <= kinds
    times = [item.at for item in response.context["timeline"]]
    assert times == sorted(times, reverse=True)
    assert 'id="note-form"' in body


def test_account_detail_is_read_only_for_another_csm(client, other_csm, world):
    client.force_login(other_csm)
    response = client.get(reverse("account-detail", args=[world.accounts[0].id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="note-form"' not in body
    assert "read-only" in body


def test_account_detail_missing_is_404(client, csm, world):
    client.force_login(csm)
    assert client.get(reverse("account-detail", args=[999999])).status_code == 404


def test_account_detail_query_count_does_not_grow_with_history(client, csm, world):
    account = world.accounts[0]
    client.force_login(csm)
    url = reverse("account-detail", args=[account.id])
    few = queries_for(client, url)
    from customers import services

    for n in range(60):
        services.note_create(account=account, author=csm, body=f"note {n}")
    from playbooks import services as playbook_services

    for n in range(20):
        playbook_services.task_create(account=account, title=f"t{n}", assignee=csm, by=csm)
    many = queries_for(client, url)
    assert many == few


def test_timeline_pages_with_before(client, csm, world):
    from customers import services
    from workspace.timeline import TIMELINE_PAGE

    account = world.accounts[0]
    for n in range(TIMELINE_PAGE + 5):
        services.note_create(account=account, author=csm, body=f"old note {n}")
    client.force_login(csm)
    first = client.get(reverse("account-detail", args=[account.id]))
    assert first.context["timeline_more"] is True
    last = first.context["timeline"][-1]
    older = client.get(
        reverse("account-timeline", args=[account.id]), {"before": last.at.isoformat()}
    )
    assert older.status_code == 200
    assert all(item.at < last.at for item in older.context["timeline"])
    assert (
        client.get(
            reverse("account-timeline", args=[account.id]), {"before": "yesterday"}
        ).status_code
        == 400
    )


# --- notes: the permission matrix -----------------------------------------------------------


@pytest.mark.parametrize(("who", "expected"), [("csm", 302), ("other_csm", 403), ("manager", 302)])
def test_note_create_permission_matrix(client, world, request, who, expected):
    user = request.getfixturevalue(who)
    account = world.accounts[0]  # in csm's book
    before = Note.objects.filter(account=account).count()
    client.force_login(user)
    response = client.post(
        reverse("note-create", args=[account.id]), {"kind": "call", "body": "Talked renewals"}
    )
    assert response.status_code == expected
    after = Note.objects.filter(account=account).count()
    if expected == 403:
        assert after == before
        assert b"can't do that" in response.content
    else:
        assert after == before + 1
        note = Note.objects.filter(account=account).first()
        assert (note.kind, note.body, note.author) == ("call", "Talked renewals", user)


def test_note_create_with_htmx_answers_a_fresh_form_and_refreshes_the_timeline(client, csm, world):
    client.force_login(csm)
    response = client.post(
        reverse("note-create", args=[world.accounts[0].id]),
        {"kind": "note", "body": "Renewal looks safe", "happened_at": "2026-11-20T10:30"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "timelineChanged"
    note = Note.objects.get(body="Renewal looks safe")
    assert note.happened_at.date().isoformat() == "2026-11-20"


def test_note_create_invalid_shows_errors_and_writes_nothing(client, csm, world):
    client.force_login(csm)
    before = Note.objects.count()
    response = client.post(
        reverse("note-create", args=[world.accounts[0].id]),
        {"kind": "telepathy", "body": "   "},
    )
    assert response.status_code == 400
    assert b"errorlist" in response.content
    assert Note.objects.count() == before


def test_note_create_requires_post(client, csm, world):
    client.force_login(csm)
    assert client.get(reverse("note-create", args=[world.accounts[0].id])).status_code == 405


def test_today_fixture_drives_overdue(client, csm, world, settings, today):
    # Given "today" moved past a renewal date, when the book renders, it says overdue
    settings.CS_TODAY = today + timedelta(days=45)
    client.force_login(csm)
    response = client.get(reverse("home"))
    assert "overdue" in response.content.decode()


def test_csv_export_escapes_formula_cells(client, csm, world):
    # Given an account whose name a spreadsheet would run as a formula
    Account.objects.filter(name="Acme 000").update(name='=HYPERLINK("http://x")')
    client.force_login(csm)
    # When the list is exported, then the cell is quoted
    response = client.get(reverse("account-export"), {"segment": world.segment.id})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert '\'=HYPERLINK("http://x")' in [row[2] for row in rows[1:]]

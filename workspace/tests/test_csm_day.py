"""The CSM's day (issue 20) on the server side: the accounts list opening on my book,
columns, saved views, bulk actions on accounts and tasks, global search, a task made by
hand, plain-language timeline entries, friendly error pages and the favicon."""

import csv
import io
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from customers.models import Account
from playbooks import services as playbook_services
from playbooks.models import Task, TaskStatus
from segments import services as segment_services
from segments.models import Membership
from workspace.models import SavedView
from workspace.tests.ui_world import world_fixture  # noqa: F401 (the ``world`` fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_windows")]


@pytest.fixture
def default_windows(db):
    from playbooks.models import RenewalWindow

    for days in (120, 90):
        RenewalWindow.objects.get_or_create(days=days, defaults={"name": f"T-{days}"})


# --- accounts list ---------------------------------------------------------------------------


def test_a_csm_lands_on_their_book_and_a_manager_on_everyone(client, csm, manager, world):
    client.force_login(csm)
    response = client.get(reverse("account-list"))
    assert response.status_code == 302 and response["Location"].endswith("?csm=csm")
    everyone = client.get(reverse("account-list"), {"csm": ""})
    assert everyone.context["page"].paginator.count == Account.objects.count()
    client.force_login(manager)
    assert client.get(reverse("account-list")).status_code == 200


def test_the_column_chooser_shows_the_chosen_columns(client, csm, world):
    client.force_login(csm)
    response = client.get(reverse("account-list"), {"csm": "", "cols": ["industry", "arr"]})
    body = response.content.decode()
    headers = [c.label for c in response.context["columns"]]
    assert headers == ["Industry", "ARR"]
    assert "sort=plan" not in body and "$10,000" in body
    assert "Software" in body  # the stored "software" read as a word


# --- saved views ------------------------------------------------------------------------------


def test_save_reopen_share_and_delete_a_view(client, csm, other_csm, world):
    client.force_login(csm)
    response = client.post(
        reverse("saved-view-save"),
        {
            "page": "accounts",
            "name": "EMEA pro",
            "query": "region=EMEA&plan=pro&page=3",
            "shared": "on",
        },
    )
    view = SavedView.objects.get()
    assert (view.owner, view.query, view.shared) == (csm, "region=EMEA&plan=pro", True)
    assert response["Location"] == reverse("account-list") + "?region=EMEA&plan=pro"
    # The team sees the shared view on the list, and may not delete it
    client.force_login(other_csm)
    listing = client.get(reverse("account-list"), {"csm": ""}).content.decode()
    assert "EMEA pro" in listing and "?region=EMEA&amp;plan=pro" in listing
    assert client.post(reverse("saved-view-delete", args=[view.pk])).status_code == 403
    # A nameless view is refused with a message; the owner deletes theirs
    client.force_login(csm)
    client.post(reverse("saved-view-save"), {"page": "accounts", "name": " ", "query": ""})
    assert SavedView.objects.count() == 1
    client.post(reverse("saved-view-delete", args=[view.pk]))
    assert not SavedView.objects.exists()


# --- bulk actions ------------------------------------------------------------------------------


def test_managers_assign_an_owner_to_the_selection_and_csms_may_not(
    client, manager, csm, other_csm, world
):
    ids = [a.id for a in world.accounts[:3]]
    client.force_login(csm)
    denied = client.post(
        reverse("accounts-bulk"), {"action": "assign_owner", "owner": "other_csm", "ids": ids}
    )
    assert denied.status_code == 403
    client.force_login(manager)
    client.post(
        reverse("accounts-bulk"), {"action": "assign_owner", "owner": "other_csm", "ids": ids}
    )
    assert set(Account.objects.filter(id__in=ids).values_list("owner__username", flat=True)) == {
        "other_csm"
    }


def test_a_csm_adds_their_own_accounts_to_a_static_segment(client, manager, csm, world):
    static = segment_services.segment_create(
        name="Strategic", kind="static", created_by=manager, publish=True
    )
    mine, theirs = world.accounts[0], world.other_accounts[0]
    client.force_login(csm)
    response = client.post(
        reverse("accounts-bulk"),
        {"action": "segment_add", "segment": static.pk, "ids": [mine.id, theirs.id]},
        follow=True,
    )
    assert "Added to Strategic: 1 account; 1 skipped (not in your book)." in (
        response.content.decode()
    )
    assert list(Membership.objects.filter(segment=static).values_list("account_id", flat=True)) == [
        mine.id
    ]
    client.post(
        reverse("accounts-bulk"),
        {"action": "segment_remove", "segment": static.pk, "ids": [mine.id]},
    )
    assert not Membership.objects.filter(segment=static).exists()


def test_export_the_selection(client, csm, world):
    client.force_login(csm)
    ids = [world.accounts[1].id, world.accounts[0].id]
    response = client.post(reverse("accounts-bulk"), {"action": "export", "ids": ids})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["name"] for row in rows] == ["Acme 000", "Acme 001"]


def test_bulk_complete_snooze_and_reassign_tasks(client, csm, other_csm, world, today):
    client.force_login(csm)
    tasks = list(Task.objects.filter(assignee=csm, status="open").order_by("id"))
    first, second, third = tasks[:3]
    playbook_services.task_update(task=second, data={"due_date": today + timedelta(days=5)}, by=csm)
    # When the CSM completes the first and someone else's task
    response = client.post(
        reverse("tasks-bulk"),
        {"action": "complete", "ids": [first.id, world.other_task.id]},
        follow=True,
    )
    # Then only theirs is done, and the message says one was skipped
    assert "Completed 1 task; 1 skipped (not yours to change)." in response.content.decode()
    first.refresh_from_db()
    world.other_task.refresh_from_db()
    assert (first.status, world.other_task.status) == ("done", "open")
    # Snoozing 3 days counts from the later of today and the due date
    client.post(reverse("tasks-bulk"), {"action": "snooze", "days": "3", "ids": [second.id]})
    second.refresh_from_db()
    assert (second.status, second.snoozed_until) == ("snoozed", today + timedelta(days=8))
    client.post(
        reverse("tasks-bulk"),
        {"action": "reassign", "assignee": "other_csm", "ids": [third.id]},
    )
    third.refresh_from_db()
    assert third.assignee == other_csm
    # Nothing selected is a message, not an error page
    empty = client.post(reverse("tasks-bulk"), {"action": "complete"}, follow=True)
    assert "Select at least one row first." in empty.content.decode()


def test_the_single_task_snooze_counts_from_the_due_date(client, csm, world, today):
    task = world.csm_task
    playbook_services.task_update(task=task, data={"due_date": today + timedelta(days=10)}, by=csm)
    client.force_login(csm)
    client.post(reverse("task-snooze", args=[task.id]), {"days": "3"})
    task.refresh_from_db()
    assert task.snoozed_until == today + timedelta(days=13)


# --- search --------------------------------------------------------------------------------------


def test_global_search_finds_accounts_segments_playbooks_and_notes(client, csm, world):
    client.force_login(csm)
    response = client.get(reverse("search"), {"q": "cme 00"})
    results = response.context["results"]
    assert [hit.title for hit in results["accounts"]][:2] == ["Acme 000", "Acme 001"]
    assert [
        hit.title
        for hit in client.get(reverse("search"), {"q": "enterp"}).context["results"]["segments"]
    ] == ["Enterprise"]
    notes = client.get(reverse("search"), {"q": "kickoff"}).context["results"]["notes"]
    assert [hit.title for hit in notes] == ["Acme 000"]
    dropdown = client.get(
        reverse("search"), {"q": "acme 001", "dropdown": "1"}, HTTP_HX_REQUEST="true"
    )
    assert "<html" not in dropdown.content.decode() and "Acme 001" in dropdown.content.decode()
    assert client.get(reverse("search"), {"q": "a"}).context["too_short"] is True


# --- a task by hand ---------------------------------------------------------------------------------


def test_a_task_created_by_hand_from_the_account(client, csm, other_csm, world, today):
    account = world.accounts[1]
    url = reverse("account-task-create", args=[account.id])
    client.force_login(csm)
    page = client.get(reverse("account-detail", args=[account.id])).content.decode()
    assert 'id="task-form"' in page
    client.post(url, {"task-title": "Send the pricing sheet", "task-due_date": today.isoformat()})
    task = Task.objects.get(title="Send the pricing sheet")
    assert (task.account, task.assignee, task.source, task.created_by) == (
        account,
        csm,
        "manual",
        csm,
    )
    response = client.post(url, {"task-title": "  "}, follow=True)
    assert "The task was not added" in response.content.decode()
    client.force_login(other_csm)
    assert client.post(url, {"task-title": "Not mine"}).status_code == 403


# --- words ----------------------------------------------------------------------------------------


def test_timeline_entries_read_as_sentences_with_links(client, csm, world):
    account = world.accounts[0]
    contract = account.contracts.get()
    playbook_services.renewal_forecast_set(contract=contract, forecast="commit", by=csm)
    client.force_login(csm)
    response = client.get(reverse("account-detail", args=[account.id]))
    titles = [item.title for item in response.context["timeline"]]
    renewal_task = Task.objects.get(contract=contract)
    assert (
        f"Renewal prep task created for csm, due {renewal_task.due_date.day} "
        f"{renewal_task.due_date:%b %Y}" in titles
    )
    assert "Renewal forecast set to Commit ($10,000 expected)" in titles
    assert "Entered the segment Enterprise" in titles
    body = response.content.decode()
    assert reverse("renewal-detail", args=[contract.id]) in body
    assert "For system" not in body and "task " + str(renewal_task.id) not in body
    done = world.csm_task
    playbook_services.task_complete(task=done, by=csm)
    titles = [
        i.title
        for i in client.get(reverse("account-detail", args=[account.id])).context["timeline"]
    ]
    assert "csm completed the task" in titles


def test_friendly_404_and_500_pages_and_the_favicon(client, csm):
    # the favicon needs no login (browsers ask for it on the login page too)
    assert client.get("/favicon.ico").status_code == 301
    client.force_login(csm)
    missing = client.get("/no/such/page/")
    assert missing.status_code == 404
    body = missing.content.decode()
    assert "Page not found" in body and "URLconf" not in body
    assert "Something went wrong" in render_to_string("500.html")
    icon = client.get("/favicon.ico")
    assert icon.status_code == 301 and icon["Location"].endswith("favicon.svg")
    assert 'rel="icon"' in client.get(reverse("home")).content.decode()


def test_task_status_choice_labels_are_words(world):
    assert dict(TaskStatus.choices)["open"] == "Open"


# --- the import page ---------------------------------------------------------------------------


def test_the_import_page_template_and_column_list(client, csm, manager):
    client.force_login(csm)
    assert client.get(reverse("account-import")).status_code == 403
    client.force_login(manager)
    page = client.get(reverse("account-import")).content.decode()
    for column in ("external_id", "arr", "renewal_date", "csm", "customer_since"):
        assert f"<code>{column}</code>" in page
    template = client.get(reverse("account-import-template"))
    header = template.content.decode().splitlines()[0].split(",")
    assert header[0] == "external_id" and {"arr", "renewal_date", "csm"} <= set(header)


def test_the_import_page_imports_and_reports(client, manager):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(manager)
    upload = SimpleUploadedFile(
        "a.csv", b"external_id,name,arr\nh-1,Hooli,2500\nh-2,Bad,abc\n", content_type="text/csv"
    )
    response = client.post(reverse("account-import"), {"file": upload})
    body = response.content.decode()
    assert "created 1" in body and "got &#x27;abc&#x27;" in body
    assert Account.objects.get(external_id="h-1").arr == 2500

"""Owners from the account page (assign, change, end roles, with history) and the team
page."""

import pytest
from django.urls import reverse

from customers.models import AssignmentRole, CSMAssignment
from customers.tests.factories import AccountFactory
from playbooks.models import Task, TaskStatus

pytestmark = pytest.mark.django_db


def assign(client, account, user, role=AssignmentRole.OWNER, **headers):
    return client.post(
        reverse("account-owner-assign", args=[account.pk]),
        {"role": role, "user": user.pk},
        **headers,
    )


def test_a_manager_assigns_then_changes_the_owner_and_the_history_keeps_both(
    client, manager, csm, other_csm
):
    # Given an account without an owner
    account = AccountFactory(name="ACME")
    client.force_login(manager)

    # When the manager assigns csm, then other_csm, as owner
    first = assign(client, account, csm)
    second = assign(client, account, other_csm, HTTP_HX_REQUEST="true")

    # Then the owner is other_csm, csm's assignment is closed, and the page shows both
    assert first.status_code == 302 and second.status_code == 200
    account.refresh_from_db()
    assert account.owner == other_csm
    rows = list(CSMAssignment.objects.filter(account=account).order_by("started_at"))
    assert [(r.user, r.ended_at is None) for r in rows] == [(csm, False), (other_csm, True)]
    html = second.content.decode()
    assert 'id="owner-history"' in html and "csm" in html and "other_csm" in html
    assert second["HX-Trigger"] == "timelineChanged"
    page = client.get(reverse("account-detail", args=[account.pk])).content.decode()
    assert 'id="owner-form"' in page


def test_secondary_and_executive_sponsor_roles_are_added_and_ended(client, manager, csm):
    account = AccountFactory()
    client.force_login(manager)

    assign(client, account, csm, AssignmentRole.SECONDARY)
    assign(client, account, manager, AssignmentRole.EXEC_SPONSOR)

    current = CSMAssignment.objects.filter(account=account, ended_at__isnull=True)
    assert {(a.user, a.role) for a in current} == {
        (csm, AssignmentRole.SECONDARY),
        (manager, AssignmentRole.EXEC_SPONSOR),
    }
    account.refresh_from_db()
    assert account.owner is None  # secondary roles do not make an owner
    secondary = current.get(role=AssignmentRole.SECONDARY)
    response = client.post(
        reverse("account-owner-end", args=[account.pk]), {"assignment": secondary.pk}
    )
    assert response.status_code == 302
    secondary.refresh_from_db()
    assert secondary.ended_at is not None


def test_csms_cannot_assign_and_bad_input_is_a_form_error(client, manager, csm):
    account = AccountFactory()
    client.force_login(csm)
    assert assign(client, account, csm).status_code == 403
    page = client.get(reverse("account-detail", args=[account.pk])).content.decode()
    assert 'id="owner-form"' not in page and 'id="owners"' in page

    client.force_login(manager)
    bad = client.post(
        reverse("account-owner-assign", args=[account.pk]), {"role": "boss", "user": "999999"}
    )
    assert bad.status_code == 400
    assert "Select a valid choice" in bad.content.decode()
    assert not CSMAssignment.objects.filter(account=account).exists()
    gone = client.post(reverse("account-owner-end", args=[account.pk]), {"assignment": 999999})
    assert gone.status_code == 404


def test_the_team_page_lists_each_csm_book_and_what_nobody_owns(client, manager, csm, today):
    # Given csm owning two accounts with one open task, and an account nobody owns
    owned = [AccountFactory(owner=csm, arr=1000), AccountFactory(owner=csm, arr=500)]
    AccountFactory(owner=None, arr=70)
    Task.objects.create(
        account=owned[0], assignee=csm, title="Call", due_date=today, status=TaskStatus.OPEN
    )
    Task.objects.create(account=owned[1], title="Orphan task", due_date=today)
    client.force_login(manager)

    response = client.get(reverse("team"))

    assert response.status_code == 200
    row = next(m for m in response.context["team"] if m == csm)
    assert (row.n_accounts, row.book_arr, row.n_open) == (2, 1500, 1)
    assert response.context["unowned"]["n"] == 1
    assert response.context["unassigned_tasks"] == 1
    client.force_login(csm)
    assert client.get(reverse("team")).status_code == 403

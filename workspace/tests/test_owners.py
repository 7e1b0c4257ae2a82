"""Owners from the account page (assign, change, end roles, with history) and the team
page."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from cs_platform.roles import MANAGERS
from customers.models import AssignmentRole, CSMAssignment
from customers.tests.factories import AccountFactory
from playbooks.models import Task, TaskStatus
from workspace.models import TeamMember

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


def test_the_team_page_opens_on_the_managers_own_team(
    client, manager, csm, other_csm, django_user_model
):
    # Given csm on the manager's team and other_csm on another manager's team
    other_manager = django_user_model.objects.create_user("lead2", password="x")
    other_manager.groups.add(Group.objects.get_or_create(name=MANAGERS)[0])
    TeamMember.objects.create(user=csm, manager=manager)
    TeamMember.objects.create(user=other_csm, manager=other_manager)
    AccountFactory(owner=csm, arr=100)
    AccountFactory(owner=other_csm, arr=900)
    client.force_login(manager)

    # When the manager opens the team page, then another manager's team, then every CSM
    mine = client.get(reverse("team"))
    theirs = client.get(reverse("team"), {"team": "lead2"})
    everyone = client.get(reverse("team"), {"team": "all"})

    # Then each lists its own CSMs, with totals over those only
    assert mine.context["team_key"] == "mine"
    assert [m.username for m in mine.context["team"]] == [csm.username]
    assert mine.context["totals"]["arr"] == 100
    assert "My team" in mine.content.decode()
    assert [m.username for m in theirs.context["team"]] == [other_csm.username]
    assert {m.username for m in everyone.context["team"]} >= {csm.username, other_csm.username}
    assert everyone.context["totals"]["arr"] == 1000


def test_a_manager_without_a_team_sees_every_csm_and_adds_one_to_their_team(
    client, manager, csm, other_csm
):
    client.force_login(manager)
    first = client.get(reverse("team"))
    assert first.context["team_key"] == "all"
    assert {csm.username, other_csm.username} <= {m.username for m in first.context["team"]}

    added = client.post(reverse("team-change"), {"csm": csm.username, "action": "add"})

    assert added.status_code == 302
    assert TeamMember.objects.get(user=csm).manager == manager
    after = client.get(reverse("team"))
    assert [m.username for m in after.context["team"]] == [csm.username]

    removed = client.post(reverse("team-change"), {"csm": csm.username, "action": "remove"})
    assert removed.status_code == 302 and not TeamMember.objects.filter(user=csm).exists()


def test_team_changes_refuse_bad_input_and_csms(client, manager, csm):
    client.force_login(manager)
    unknown = client.post(reverse("team-change"), {"csm": "nobody", "action": "add"})
    bad_action = client.post(reverse("team-change"), {"csm": csm.username, "action": "fire"})
    assert unknown.status_code == 400 and "csm:" in unknown.content.decode()
    assert bad_action.status_code == 400 and "action:" in bad_action.content.decode()
    assert not TeamMember.objects.exists()
    client.force_login(csm)
    denied = client.post(reverse("team-change"), {"csm": csm.username, "action": "add"})
    assert denied.status_code == 403 and not TeamMember.objects.exists()

"""Renewal queue, tasks (complete / snooze / cancel, with and without htmx) and playbook
pages: filters, the permission matrix with real outcomes, and flat query counts."""

from datetime import timedelta

import pytest
from django.urls import reverse

from cs_platform.models import OutboxMessage
from playbooks import services
from playbooks.models import RenewalQueueBuild, Task, TaskStatus, TaskStatusChange
from playbooks.tests.factories import PlaybookFactory, PlaybookStepFactory
from workspace.tests.ui_world import (
    build_world,
    make_account,
    queries_for,
    world_fixture,  # noqa: F401 (the ``world`` fixture)
)

pytestmark = pytest.mark.django_db


# --- renewal queue -------------------------------------------------------------------------


def test_renewal_queue_csm_defaults_to_own_entries(client, csm, world):
    client.force_login(csm)
    response = client.get(reverse("renewal-queue"))
    entries = response.context["entries"]
    assert entries and {e.csm_id for e in entries} == {csm.id}
    assert response.context["filters"]["csm"] == "csm"


def test_renewal_queue_manager_sees_everyone(client, manager, csm, other_csm, world):
    client.force_login(manager)
    response = client.get(reverse("renewal-queue"))
    assert {e.csm_id for e in response.context["entries"]} == {csm.id, other_csm.id}


def test_renewal_queue_filters_by_window_and_tightest(client, csm, world):
    client.force_login(csm)
    t90 = client.get(reverse("renewal-queue"), {"window": "90"}).context["entries"]
    assert sorted(e.account.name for e in t90) == ["Acme 000", "Acme 001"]
    t120 = client.get(reverse("renewal-queue"), {"window": "120"}).context["entries"]
    assert sorted(e.account.name for e in t120) == ["Acme 000", "Acme 001", "Acme 002"]
    tightest = client.get(reverse("renewal-queue"), {"window": "tightest"}).context["entries"]
    assert sorted((e.account.name, e.window.days) for e in tightest) == [
        ("Acme 000", 90),
        ("Acme 001", 90),
        ("Acme 002", 120),
    ]
    # each entry shows its renewal task
    assert all(e.task_status == TaskStatus.OPEN for e in tightest)


def test_renewal_queue_filters_by_task_status(client, csm, world):
    task = Task.objects.get(contract__account=world.accounts[0], window__days=90)
    services.task_complete(task=task, by=csm)
    client.force_login(csm)
    done = client.get(reverse("renewal-queue"), {"task": "done"}).context["entries"]
    assert [(e.account.name, e.window.days) for e in done] == [("Acme 000", 90)]
    still_open = client.get(reverse("renewal-queue"), {"task": "open"}).context["entries"]
    # each contract once (its tightest window), with its one open renewal task
    assert sorted((e.account.name, e.window.days) for e in still_open) == [
        ("Acme 001", 90),
        ("Acme 002", 120),
    ]


def test_renewal_queue_htmx_filter_returns_the_fragment(client, csm, world):
    client.force_login(csm)
    response = client.get(
        reverse("renewal-queue"), {"window": "90", "csm": "__all__"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "<html" not in body and "renewals-table" in body
    assert "Acme 000" in body and "Acme 002" not in body


def test_renewal_queue_query_count_does_not_grow(client, csm, other_csm, manager, today):
    build_world(csm=csm, other_csm=other_csm, manager=manager, today=today)
    client.force_login(csm)
    few = queries_for(client, reverse("renewal-queue"))
    for n in range(5, 50):
        make_account(n=n, owner=csm, today=today, renews_in_days=10 + n)
    services.renewal_queue_rebuild(today=today)
    many = queries_for(client, reverse("renewal-queue"))
    assert many == few


@pytest.mark.parametrize(("who", "expected"), [("csm", 403), ("manager", 200)])
def test_renewal_rebuild_permission(
    client, world, request, who, expected, django_capture_on_commit_callbacks
):
    client.force_login(request.getfixturevalue(who))
    with django_capture_on_commit_callbacks():
        response = client.post(reverse("renewal-rebuild"), HTTP_HX_REQUEST="true")
    assert response.status_code == expected
    queued = OutboxMessage.objects.filter(task="playbooks.renewal_queue_rebuild")
    assert queued.count() == (1 if expected == 200 else 0)
    if expected == 200:
        assert b"Rebuilding the renewal queue" in response.content


def test_renewal_rebuild_status_reports_running_then_finished(client, manager, world, today):
    client.force_login(manager)
    from django.utils import timezone

    started = timezone.now()
    url = reverse("renewal-rebuild-status")
    running = client.get(url, {"started": started.isoformat()})
    assert b"Rebuilding" in running.content and b"hx-get" in running.content
    services.renewal_queue_rebuild(today=today)
    done = client.get(url, {"started": started.isoformat()})
    assert b"Rebuild finished" in done.content and b"hx-get" not in done.content
    assert RenewalQueueBuild.objects.count() == 2
    assert client.get(url, {"started": "soon"}).status_code == 400


# --- tasks ---------------------------------------------------------------------------------


def test_task_list_defaults_and_filters(client, csm, manager, world):
    client.force_login(csm)
    mine = client.get(reverse("task-list")).context["rows"]
    assert mine and {task.assignee_id for task, _ in mine} == {csm.id}
    assert all(can for _, can in mine)
    everyone = client.get(reverse("task-list"), {"assignee": "__all__"}).context["rows"]
    others = [(t, can) for t, can in everyone if t.assignee_id != csm.id]
    assert others and not any(can for _, can in others)  # read-only for me
    manual = client.get(reverse("task-list"), {"source": "manual"}).context["rows"]
    assert [t.title for t, _ in manual] == ["Call the champion"]
    overdue = client.get(reverse("task-list"), {"assignee": "other_csm", "due": "overdue"})
    assert [t.title for t, _ in overdue.context["rows"]] == ["Send QBR deck"]
    renewal_90 = client.get(reverse("task-list"), {"window": "90"}).context["rows"]
    assert len(renewal_90) == 2
    client.force_login(manager)
    assert client.get(reverse("task-list")).context["filters"]["assignee"] == "__all__"


def test_task_list_query_count_does_not_grow(client, csm, world, today):
    client.force_login(csm)
    url = reverse("task-list") + "?assignee=__all__"
    few = queries_for(client, url)
    for n in range(45):
        services.task_create(
            account=world.accounts[n % 5], title=f"Task {n}", assignee=csm, due_date=today, by=csm
        )
    many = queries_for(client, url)
    assert many == few


ACTIONS = {
    "complete": ({}, TaskStatus.DONE),
    "snooze": ({"days": "7"}, TaskStatus.SNOOZED),
    "cancel": ({}, TaskStatus.CANCELLED),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize(
    ("who", "allowed"), [("csm", True), ("other_csm", False), ("manager", True)]
)
def test_task_action_permission_matrix(client, world, request, action, who, allowed):
    # Given csm's task, when each role acts on it, then only csm and a manager change it
    user = request.getfixturevalue(who)
    task = world.csm_task
    data, status = ACTIONS[action]
    client.force_login(user)
    response = client.post(reverse(f"task-{action}", args=[task.id]), data)
    task.refresh_from_db()
    if allowed:
        assert response.status_code == 302
        assert task.status == status
        change = TaskStatusChange.objects.filter(task=task).latest("at")
        assert (change.to_status, change.by) == (status, user)
    else:
        assert response.status_code == 403
        assert task.status == TaskStatus.OPEN
        assert not TaskStatusChange.objects.filter(task=task, to_status=status).exists()


def test_task_complete_with_htmx_returns_the_updated_row(client, csm, world):
    client.force_login(csm)
    response = client.post(
        reverse("task-complete", args=[world.csm_task.id]),
        {"show_account": "1"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="task-{world.csm_task.id}"')
    assert "task-done" in body and "Done: Call the champion" in body


def test_task_snooze_until_date_and_bad_input(client, csm, world, today):
    client.force_login(csm)
    url = reverse("task-snooze", args=[world.csm_task.id])
    bad = client.post(url, {"until": "someday"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and b"expected a date" in bad.content
    past = client.post(url, {"until": today.isoformat()}, HTTP_HX_REQUEST="true")
    assert past.status_code == 400 and b"after today" in past.content
    world.csm_task.refresh_from_db()
    assert world.csm_task.status == TaskStatus.OPEN
    ok = client.post(url, {"until": (today + timedelta(days=3)).isoformat()})
    assert ok.status_code == 302
    world.csm_task.refresh_from_db()
    assert world.csm_task.snoozed_until == today + timedelta(days=3)


def test_task_action_redirects_only_to_local_next(client, csm, world):
    client.force_login(csm)
    response = client.post(
        reverse("task-complete", args=[world.csm_task.id]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("task-list")


def test_task_actions_require_post_and_existing_task(client, csm, world):
    client.force_login(csm)
    assert client.get(reverse("task-complete", args=[world.csm_task.id])).status_code == 405
    assert client.post(reverse("task-complete", args=[999999])).status_code == 404


def test_csm_can_act_on_a_task_assigned_to_them_on_another_book(client, csm, world):
    task = services.task_create(
        account=world.other_accounts[0], title="Help out", assignee=csm, by=None
    )
    client.force_login(csm)
    assert client.post(reverse("task-complete", args=[task.id])).status_code == 302
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE


# --- playbooks -------------------------------------------------------------------------------


def test_playbook_pages(client, csm, world):
    playbook = PlaybookFactory(segment=world.segment, name="Enterprise onboarding")
    PlaybookStepFactory(playbook=playbook, order=1)
    client.force_login(csm)
    listing = client.get(reverse("playbook-list"))
    assert b"Enterprise onboarding" in listing.content
    detail = client.get(reverse("playbook-detail", args=[playbook.id]))
    assert detail.status_code == 200
    assert b"Create a task" in detail.content
    assert client.get(reverse("playbook-detail", args=[999999])).status_code == 404


def test_task_rows_have_accessible_action_labels(client, csm, world):
    client.force_login(csm)
    body = client.get(reverse("task-list")).content.decode()
    assert 'aria-label="Mark done: Call the champion"' in body
    assert f'<label class="sr-only" for="snooze-{world.csm_task.id}">' in body
    assert Task.objects.filter(assignee__username="csm").exists()


@pytest.mark.parametrize(
    "params",
    [
        {"window": "99999999999999999999999"},
        {"window": "-1", "csm": "nobody-at-all"},
        {"page": "x", "task": "nope", "q": "x" * 500},
    ],
)
def test_renewal_queue_odd_input_is_not_a_500(client, csm, world, params):
    client.force_login(csm)
    response = client.get(reverse("renewal-queue"), params)
    assert response.status_code in (200, 404)


def test_task_list_odd_input_is_not_a_500(client, csm, world):
    client.force_login(csm)
    for params in ({"window": "99999999999999999999999"}, {"status": "x", "due": "y"}):
        assert client.get(reverse("task-list"), params).status_code == 200

"""The managers' admin: renewal queue with "rebuild now", playbooks with validated steps and
a dry run, tasks changed through the services."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from cs_platform.models import OutboxMessage
from customers.tests.factories import AccountFactory, ContractFactory
from playbooks import services
from playbooks.models import Playbook, Task, TaskStatus
from playbooks.tests.factories import MembershipFactory, PlaybookFactory, SegmentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_windows")]


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def test_changelists_render(admin_client, today):
    ContractFactory(start_date=today - timedelta(days=300), end_date=today + timedelta(days=30))
    services.renewal_queue_rebuild(today=today)
    for name in ("renewalqueueentry", "renewalwindow", "task", "playbook", "playbookrun"):
        response = admin_client.get(reverse(f"admin:playbooks_{name}_changelist"))
        assert response.status_code == 200, name
    body = admin_client.get(reverse("admin:playbooks_renewalqueueentry_changelist")).content
    assert b"Rebuild renewal queue now" in body and b"Last build" in body


def test_rebuild_now_queues_a_full_rebuild(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = admin_client.post(reverse("admin:playbooks_renewalqueueentry_rebuild"))
    assert response.status_code == 302
    queued = OutboxMessage.objects.get(task="playbooks.renewal_queue_rebuild")
    assert (queued.kwargs, queued.queue, queued.state) == ({"full": True}, "interactive", "queued")


@pytest.mark.parametrize(
    ("staff", "expected_status"),
    [(False, 302), (True, 403)],  # not staff: sent to the admin login; staff CSM: refused
)
def test_rebuild_now_is_for_managers_only(
    client, csm, django_capture_on_commit_callbacks, staff, expected_status
):
    # Given a CSM (in the admin or not)
    csm.is_staff = staff
    csm.save(update_fields=["is_staff"])
    client.force_login(csm)

    # When they ask for a rebuild
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("admin:playbooks_renewalqueueentry_rebuild"))

    # Then they are turned away and nothing is queued
    assert response.status_code == expected_status
    if expected_status == 302:
        assert reverse("admin:login") in response["Location"]
    assert callbacks == []
    assert not OutboxMessage.objects.exists()


def windows_of_contract(contract) -> set[int | None]:
    from playbooks.models import RenewalQueueEntry

    return set(
        RenewalQueueEntry.objects.filter(contract=contract).values_list("window__days", flat=True)
    )


def test_adding_a_window_rebuilds_the_queue(
    admin_client, today, eager_tasks, django_capture_on_commit_callbacks
):
    # Given a built queue and a contract 50 days from its end
    contract = ContractFactory(
        start_date=today - timedelta(days=300), end_date=today + timedelta(days=50)
    )
    services.renewal_queue_rebuild(today=today)
    assert windows_of_contract(contract) == {120, 90}

    # When a manager adds a T-60 window
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:playbooks_renewalwindow_add"),
            {"days": "60", "name": "", "is_active": "on"},
            follow=True,
        )

    # Then the queue is rebuilt right away: the contract is in the new window too, with its
    # task, and the manager is told
    assert response.status_code == 200
    assert windows_of_contract(contract) == {120, 90, 60}
    assert Task.objects.filter(contract=contract, window__days=60).count() == 1
    assert "being rebuilt for the changed windows" in response.content.decode()


def test_switching_a_window_off_rebuilds_the_queue_and_renaming_does_not(
    admin_client, today, eager_tasks, django_capture_on_commit_callbacks, default_windows
):
    from playbooks.models import RenewalQueueBuild

    contract = ContractFactory(
        start_date=today - timedelta(days=300), end_date=today + timedelta(days=50)
    )
    services.renewal_queue_rebuild(today=today)
    t90 = next(window for window in default_windows if window.days == 90)
    url = reverse("admin:playbooks_renewalwindow_change", args=[t90.pk])

    # When a manager only renames T-90, nothing is rebuilt
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"days": "90", "name": "Renewal call", "is_active": "on"})
    assert RenewalQueueBuild.objects.count() == 1

    # When they switch it off, the queue is rebuilt without it
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"days": "90", "name": "Renewal call"})
    assert response.status_code == 302
    assert RenewalQueueBuild.objects.count() == 2
    assert windows_of_contract(contract) == {120}


def test_playbook_with_a_bad_step_config_is_refused(admin_client):
    segment = SegmentFactory()
    data = {
        "name": "Bad hook",
        "description": "",
        "segment": segment.id,
        "trigger": "on_enter",
        "on_activation": "only_new_entries",
        "stable_days": 0,
        "reentry_cooldown_days": 0,
        "steps-TOTAL_FORMS": 1,
        "steps-INITIAL_FORMS": 0,
        "steps-MIN_NUM_FORMS": 0,
        "steps-MAX_NUM_FORMS": 1000,
        "steps-0-order": 1,
        "steps-0-kind": "webhook",
        "steps-0-config": '{"url": "ftp://nope"}',
    }
    response = admin_client.post(reverse("admin:playbooks_playbook_add"), data)
    assert response.status_code == 200
    assert b"config.url: expected an http(s) URL" in response.content
    assert not Playbook.objects.exists()

    data["steps-0-config"] = '{"url": "https://example.com/hook", "secret": "s"}'
    data["is_active"] = "on"
    response = admin_client.post(reverse("admin:playbooks_playbook_add"), data)
    assert response.status_code == 302
    playbook = Playbook.objects.get()
    assert playbook.activated_at is not None
    assert playbook.steps.get().config["max_attempts"] == 5


def test_dry_run_action_renders_the_plan(admin_client):
    playbook = PlaybookFactory(name="Welcome")
    playbook.steps.create(order=1, kind="create_task", config={"title": "Hi {{ account.name }}"})
    MembershipFactory(segment=playbook.segment, account=AccountFactory(name="ACME"))
    response = admin_client.post(
        reverse("admin:playbooks_playbook_changelist"),
        {"action": "dry_run", "_selected_action": [playbook.id]},
    )
    assert response.status_code == 200
    assert b"Hi ACME" in response.content and b"Nothing was changed" in response.content
    assert not Task.objects.exists()


def test_task_actions_go_through_the_services(admin_client, manager):
    task = services.task_create(account=AccountFactory(), title="Call")
    response = admin_client.post(
        reverse("admin:playbooks_task_changelist"),
        {"action": "mark_done", "_selected_action": [task.id]},
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.status_changes.get().by == manager


def test_management_command_rebuilds(today, capsys):
    ContractFactory(start_date=today - timedelta(days=300), end_date=today + timedelta(days=30))
    call_command("renewal_queue_rebuild", "--today", today.isoformat())
    assert "+2 ~0 -0 entries, 1 tasks created" in capsys.readouterr().out

"""The playbook builder in the app (playbooks.builder_views): steps as forms per kind, saved
inactive, dry run, activation asking current members or only new entries."""

import pytest
from django.urls import reverse

from customers.tests.factories import AccountFactory
from playbooks.models import Playbook, PlaybookActivation, PlaybookRun, StepKind
from playbooks.tests.factories import SegmentFactory
from segments.models import Membership

pytestmark = pytest.mark.django_db


def settings_data(segment, **extra):
    return {
        "name": "Welcome",
        "description": "",
        "segment": segment.pk,
        "trigger": "on_enter",
        "stable_days": "2",
        "reentry_cooldown_days": "30",
        "fallback_assignee": "",
        **extra,
    }


def task_step(index, title="Call {{ account.name }}", due="3"):
    return {
        f"step-{index}-kind": StepKind.CREATE_TASK,
        f"step-{index}-title": title,
        f"step-{index}-description": "",
        f"step-{index}-due_in_days": due,
        f"step-{index}-assignee": "owner",
    }


def post(client, url, data, steps_order=()):
    payload = dict(data)
    payload["steps"] = list(steps_order)
    return client.post(url, payload)


def test_a_playbook_is_built_with_steps_per_kind_and_saved_inactive(client, manager):
    segment = SegmentFactory()
    client.force_login(manager)
    data = {
        **settings_data(segment, fallback_assignee=manager.pk),
        **task_step(0),
        "step-1-kind": StepKind.SEND_EMAIL,
        "step-1-subject": "Welcome {{ account.name }}",
        "step-1-body": "Hello",
        "step-1-to_owner": "on",
        "step-1-to": "cs@example.com, lead@example.com",
        "action": "save",
    }

    response = post(client, reverse("playbook-new"), data, ["0", "1"])

    playbook = Playbook.objects.get(name="Welcome")
    assert response.status_code == 302
    assert response["Location"] == reverse("playbook-detail", args=[playbook.pk])
    assert not playbook.is_active
    assert (playbook.stable_days, playbook.reentry_cooldown_days) == (2, 30)
    assert playbook.fallback_assignee == manager
    steps = list(playbook.steps.order_by("order"))
    assert [s.kind for s in steps] == [StepKind.CREATE_TASK, StepKind.SEND_EMAIL]
    assert steps[0].config == {
        "title": "Call {{ account.name }}",
        "due_in_days": 3,
        "assignee": "owner",
    }
    assert steps[1].config["to"] == ["cs@example.com", "lead@example.com"]
    assert steps[1].config["to_owner"] is True
    # the page says it is inactive and offers the dry run
    page = client.get(response["Location"]).content.decode()
    assert "inactive: it runs for nobody" in page and 'id="dry-run-link"' in page


def test_step_buttons_add_move_and_remove_without_saving(client, manager):
    segment = SegmentFactory()
    client.force_login(manager)
    base = {**settings_data(segment), **task_step(0, title="First")}

    added = post(client, reverse("playbook-new"), {**base, "action": "add:webhook"}, ["0"])
    forms = added.context["step_forms"]
    assert [f.kind for f in forms] == [StepKind.CREATE_TASK, StepKind.WEBHOOK]
    assert forms[0].values["title"] == "First"
    assert "Signing secret" in added.content.decode()

    moved = post(
        client,
        reverse("playbook-new"),
        {**base, "step-1-kind": StepKind.WEBHOOK, "action": "up:1"},
        ["0", "1"],
    )
    assert [f.kind for f in moved.context["step_forms"]] == [StepKind.WEBHOOK, StepKind.CREATE_TASK]
    removed = post(client, reverse("playbook-new"), {**base, "action": "remove:0"}, ["0"])
    assert removed.context["step_forms"] == []
    assert not Playbook.objects.exists()


def test_step_errors_show_beside_their_field_and_nothing_is_saved(client, manager):
    segment = SegmentFactory()
    client.force_login(manager)
    data = {
        **settings_data(segment),
        **task_step(0, title="", due="soon"),
        "step-1-kind": StepKind.WEBHOOK,
        "step-1-url": "ftp://nope",
        "step-1-secret": "",
        "action": "save",
    }

    response = post(client, reverse("playbook-new"), data, ["0", "1"])

    assert response.status_code == 400
    forms = response.context["step_forms"]
    assert forms[0].errors["title"] == ["this field is required."]
    assert "expected a whole number" in forms[0].errors["due_in_days"][0]
    assert "http(s) URL" in forms[1].errors["url"][0] and forms[1].errors["secret"]
    assert not Playbook.objects.exists()


def test_dry_run_then_activate_for_current_members(client, manager, today):
    segment = SegmentFactory()
    members = [AccountFactory(name=f"Member {n}") for n in range(2)]
    for account in members:
        Membership.objects.create(segment=segment, account=account, entered_at="2026-11-01T00:00Z")
    client.force_login(manager)
    post(
        client,
        reverse("playbook-new"),
        {**settings_data(segment, stable_days="0"), **task_step(0), "action": "save"},
        ["0"],
    )
    playbook = Playbook.objects.get()

    dry = client.get(reverse("playbook-dry-run", args=[playbook.pk]))

    html = dry.content.decode()
    assert "Call Member 0" in html and "Call Member 1" in html
    assert 'id="activate-form"' in html and "only accounts that enter from now on" in html.lower()
    assert not PlaybookRun.objects.exists()

    missing = client.post(reverse("playbook-activate", args=[playbook.pk]), {})
    playbook.refresh_from_db()
    assert missing.status_code == 302 and not playbook.is_active
    client.post(
        reverse("playbook-activate", args=[playbook.pk]),
        {"on_activation": PlaybookActivation.RUN_FOR_CURRENT_MEMBERS},
    )
    playbook.refresh_from_db()
    assert playbook.is_active
    assert playbook.on_activation == PlaybookActivation.RUN_FOR_CURRENT_MEMBERS


def test_an_exit_playbook_cannot_activate_for_current_members(client, manager):
    segment = SegmentFactory()
    client.force_login(manager)
    post(
        client,
        reverse("playbook-new"),
        {**settings_data(segment, trigger="on_exit"), **task_step(0), "action": "save"},
        ["0"],
    )
    playbook = Playbook.objects.get()
    assert (
        "cannot run for the current members"
        in client.get(reverse("playbook-dry-run", args=[playbook.pk])).content.decode()
    )
    client.post(
        reverse("playbook-activate", args=[playbook.pk]),
        {"on_activation": PlaybookActivation.RUN_FOR_CURRENT_MEMBERS},
    )
    playbook.refresh_from_db()
    assert not playbook.is_active
    client.post(
        reverse("playbook-activate", args=[playbook.pk]),
        {"on_activation": PlaybookActivation.ONLY_NEW_ENTRIES},
    )
    playbook.refresh_from_db()
    assert playbook.is_active
    client.post(reverse("playbook-deactivate", args=[playbook.pk]))
    playbook.refresh_from_db()
    assert not playbook.is_active


def test_editing_keeps_and_replaces_steps(client, manager):
    segment = SegmentFactory()
    client.force_login(manager)
    post(
        client,
        reverse("playbook-new"),
        {**settings_data(segment), **task_step(0), "action": "save"},
        ["0"],
    )
    playbook = Playbook.objects.get()
    page = client.get(reverse("playbook-edit", args=[playbook.pk]))
    assert page.context["step_forms"][0].values["title"] == "Call {{ account.name }}"
    post(
        client,
        reverse("playbook-edit", args=[playbook.pk]),
        {**settings_data(segment, name="Renamed"), **task_step(0, title="Email"), "action": "save"},
        ["0"],
    )
    playbook.refresh_from_db()
    assert playbook.name == "Renamed" and playbook.steps.get().config["title"] == "Email"


def test_csms_cannot_build_playbooks(client, csm):
    client.force_login(csm)
    assert client.get(reverse("playbook-new")).status_code == 403

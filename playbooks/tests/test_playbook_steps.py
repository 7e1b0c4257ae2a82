"""Playbook steps against real collaborators: a local HTTP server for webhooks, Django's
mail outbox, the customers services for lifecycle stage and CSM assignment."""

import hashlib
import hmac
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from cs_platform import outbox
from cs_platform.models import OutboxMessage
from customers.models import CSMAssignment
from customers.tests.factories import AccountFactory, UserFactory
from playbooks import services, steps, webhooks
from playbooks.models import PlaybookRun, PlaybookStepRun, RunStatus, StepOutcome
from playbooks.tasks import run_execute_task
from playbooks.tests.factories import (
    MembershipEventFactory,
    PlaybookFactory,
    PlaybookStepFactory,
    SegmentFactory,
)
from playbooks.tests.webhook_receivers import LOOPBACK_RECEIVERS, Receiver

pytestmark = pytest.mark.django_db
SECRET = "s3cret"


@pytest.fixture(autouse=True)
def _loopback_receivers(settings) -> None:
    """The receivers of these tests listen on 127.0.0.1: allowed as an operator would allow
    an internal receiver (the address policy itself is tested in test_webhooks.py)."""
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK_RECEIVERS


def make_run(kind: str, config: dict, *, account=None, extra_steps=()) -> PlaybookRun:
    segment = SegmentFactory(name="Expansion")
    playbook = PlaybookFactory(name="Expand", segment=segment)
    PlaybookStepFactory(playbook=playbook, order=1, kind=kind, config=config)
    for order, (extra_kind, extra_config) in enumerate(extra_steps, start=2):
        PlaybookStepFactory(playbook=playbook, order=order, kind=extra_kind, config=extra_config)
    event = MembershipEventFactory(segment=segment, account=account or AccountFactory())
    return PlaybookRun.objects.create(
        playbook=playbook, account=event.account, membership_event=event, triggered_at=event.at
    )


def test_webhook_is_signed_and_retried_after_a_500(today):
    # Given a receiver that fails once with 500, then accepts
    with Receiver([500, 200]) as receiver:
        run = make_run(
            "webhook",
            {"url": receiver.url, "secret": SECRET},
            account=AccountFactory(name="ACME"),
            extra_steps=[("set_lifecycle_stage", {"stage": "adopting"})],
        )

        # When the run executes: the first attempt asks for a retry with backoff
        retry_in = services.playbook_run_execute(run_id=run.id)
        step_run = PlaybookStepRun.objects.get(run=run, order=1)
        assert (retry_in, step_run.outcome, step_run.attempts) == (30, StepOutcome.RETRYING, 1)
        assert not PlaybookStepRun.objects.filter(run=run, order=2, outcome="ok").exists()
        # ... and the retry succeeds
        assert services.playbook_run_execute(run_id=run.id) is None

    # Then both requests carried a valid signature over the exact body
    assert len(receiver.requests) == 2
    for request in receiver.requests:
        expected = hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        assert request["headers"]["x-cs-signature"] == f"sha256={expected}"
        assert request["headers"]["content-type"] == "application/json"
    payload = json.loads(receiver.requests[0]["body"])
    assert payload["account"]["name"] == "ACME"
    assert payload["segment"]["name"] == "Expansion"
    assert payload["membership_event"]["kind"] == "entered"
    step_run.refresh_from_db()
    assert (step_run.outcome, step_run.attempts) == (StepOutcome.OK, 2)
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert run.account.lifecycle_stage == "adopting"


def test_webhook_400_is_not_retried(today):
    with Receiver([400]) as receiver:
        run = make_run(
            "webhook",
            {"url": receiver.url, "secret": SECRET},
            extra_steps=[("set_lifecycle_stage", {"stage": "mature"})],
        )
        assert services.playbook_run_execute(run_id=run.id) is None
    assert len(receiver.requests) == 1
    step_run = PlaybookStepRun.objects.get(run=run, order=1)
    assert (step_run.outcome, step_run.attempts) == (StepOutcome.FAILED, 1)
    assert "HTTP 400" in step_run.detail and "not retried" in step_run.detail
    # A failed step does not stop the next ones; the run ends failed
    assert PlaybookStepRun.objects.get(run=run, order=2).outcome == StepOutcome.OK
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


def test_webhook_gives_up_after_max_attempts_on_connection_errors(today):
    # Given a URL where nothing listens
    with Receiver([]) as receiver:
        url = receiver.url
    run = make_run("webhook", {"url": url, "secret": SECRET, "max_attempts": 2})

    assert services.playbook_run_execute(run_id=run.id) == 30
    assert services.playbook_run_execute(run_id=run.id) is None

    step_run = PlaybookStepRun.objects.get(run=run)
    assert (step_run.outcome, step_run.attempts) == (StepOutcome.FAILED, 2)
    assert step_run.detail == f"{webhooks.NO_ANSWER} after 2 attempts"


def test_the_task_retries_the_webhook_through_the_outbox_not_the_broker(
    today, eager_tasks, django_capture_on_commit_callbacks
):
    # Given a receiver failing twice with 503
    with Receiver([503, 503, 200]) as receiver:
        run = make_run("webhook", {"url": receiver.url, "secret": SECRET})

        # When the task runs (in-process) and the webhook asks for a retry
        with django_capture_on_commit_callbacks(execute=True):
            outbox.enqueue(run_execute_task.name, run.id)
        row = OutboxMessage.objects.get(task=run_execute_task.name)

        # Then the retry is a due time on the outbox row, 30 s away (nothing in the broker),
        # and the run's lease covers the wait
        row.refresh_from_db()
        run.refresh_from_db()
        assert (row.state, len(receiver.requests)) == ("queued", 1)
        assert timedelta(seconds=25) < row.due_at - timezone.now() <= timedelta(seconds=30)
        assert run.status == RunStatus.RUNNING and run.lease_until > row.due_at

        # And each time it comes due, the relay sends it again, until the webhook accepts
        for _ in range(2):
            OutboxMessage.objects.filter(pk=row.pk).update(
                due_at=timezone.now(), next_check_at=timezone.now()
            )
            outbox.relay()

    row.refresh_from_db()
    assert len(receiver.requests) == 3 and row.state == "done" and row.attempts == 3
    step_run = PlaybookStepRun.objects.get(run=run)
    assert (step_run.outcome, step_run.attempts) == (StepOutcome.OK, 3)
    run.refresh_from_db()
    assert (run.status, run.lease_until) == (RunStatus.DONE, None)
    assert steps.webhook_backoff(1) == 30 and steps.webhook_backoff(3) == 120
    assert steps.webhook_backoff(20) == 3600


def test_send_email_to_owner_and_fixed_addresses(today):
    owner = UserFactory(username="maya", email="maya@example.com")
    run = make_run(
        "send_email",
        {
            "subject": "{{ account.name }} entered {{ segment.name }}",
            "body": "ARR {{ account.arr }}; CSM {{ account.csm }}",
            "to": ["cs-leads@example.com"],
        },
        account=AccountFactory(name="ACME", owner=owner, arr=Decimal("1200.00")),
    )

    services.playbook_run_execute(run_id=run.id)
    services.playbook_run_execute(run_id=run.id)  # a duplicate delivery sends nothing more

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "ACME entered Expansion"
    assert message.body == "ARR 1200.00; CSM maya"
    assert message.to == ["maya@example.com", "cs-leads@example.com"]


def test_create_task_for_a_named_user_and_set_lifecycle_stage(today, csm):
    run = make_run(
        "create_task",
        {"title": "Upsell {{ account.name }}", "assignee": "csm", "due_in_days": 10},
        account=AccountFactory(name="ACME", lifecycle_stage="mature"),
        extra_steps=[("set_lifecycle_stage", {"stage": "at_risk"})],
    )
    services.playbook_run_execute(run_id=run.id)

    task = run.tasks.get()
    assert (task.title, task.assignee, task.due_date) == (
        "Upsell ACME",
        csm,
        today + timedelta(days=10),
    )
    run.account.refresh_from_db()
    assert run.account.lifecycle_stage == "at_risk"
    assert "mature → at_risk" in PlaybookStepRun.objects.get(run=run, order=2).detail


def _assign_runs(strategy: str, pool: list[str], accounts: list) -> list[str]:
    segment = SegmentFactory()
    playbook = PlaybookFactory(segment=segment)
    PlaybookStepFactory(
        playbook=playbook, order=1, kind="assign_csm", config={"pool": pool, "strategy": strategy}
    )
    owners = []
    for account in accounts:
        event = MembershipEventFactory(segment=segment, account=account)
        run = PlaybookRun.objects.create(
            playbook=playbook, account=account, membership_event=event, triggered_at=event.at
        )
        services.playbook_run_execute(run_id=run.id)
        account.refresh_from_db()
        owners.append(account.owner.username if account.owner else None)
    return owners


def test_assign_csm_round_robin(today):
    for name in ("ann", "ben", "cat"):
        UserFactory(username=name)
    accounts = [AccountFactory(owner=None) for _ in range(4)]
    assert _assign_runs("round_robin", ["ann", "ben", "cat"], accounts) == [
        "ann",
        "ben",
        "cat",
        "ann",
    ]
    # Through the customers service: the assignment history exists
    assert CSMAssignment.objects.filter(role="owner", ended_at__isnull=True).count() == 4


def test_assign_csm_fewest_accounts_and_skips_owned_accounts(today):
    ann, ben = UserFactory(username="ann"), UserFactory(username="ben")
    for _ in range(2):
        AccountFactory(owner=ann)
    AccountFactory(owner=ben)
    already_owned = AccountFactory(owner=ann)
    accounts = [AccountFactory(owner=None) for _ in range(3)] + [already_owned]
    # ann 3 (incl. the owned one), ben 1: ben, ben, then a tie at 3 goes to the first
    assert _assign_runs("fewest_accounts", ["ann", "ben"], accounts) == [
        "ben",
        "ben",
        "ann",
        "ann",
    ]
    skipped = PlaybookStepRun.objects.get(run__account=already_owned)
    assert skipped.outcome == StepOutcome.SKIPPED and "already owned by ann" in skipped.detail


def test_assign_csm_least_arr(today):
    ann, ben = UserFactory(username="ann"), UserFactory(username="ben")
    AccountFactory(owner=ann, arr=Decimal("50000"))
    AccountFactory(owner=ben, arr=Decimal("10000"))
    big, small = AccountFactory(arr=Decimal("80000")), AccountFactory(arr=Decimal("1000"))
    # ben has less ARR: he gets the big one; then ann (50k) < ben (90k)
    assert _assign_runs("least_arr", ["ann", "ben"], [big, small]) == ["ben", "ann"]


def test_step_configs_are_validated_with_paths(segment=None):
    UserFactory(username="ann")
    with pytest.raises(ValidationError) as error:
        services.playbook_steps_validate(
            [
                {"kind": "create_task", "config": {"title": "{% if %}", "due_in_days": "x"}},
                {"kind": "webhook", "config": {"url": "ftp://x", "secret": ""}},
                {"kind": "assign_csm", "config": {"pool": ["ann", "nobody"], "strategy": "coin"}},
                {"kind": "send_email", "config": {"subject": "s", "body": "b", "to": ["nope"]}},
                {"kind": "set_lifecycle_stage", "config": {"stage": "happy", "extra": 1}},
                {"kind": "teleport", "config": {}},
            ]
        )
    messages = error.value.message_dict["steps"]
    for expected in (
        "steps[0].config.title: invalid template",
        "steps[0].config.due_in_days: expected a whole number",
        "steps[1].config.url: expected an http(s) URL",
        "steps[1].config.secret:",
        "steps[2].config.pool: no active user named 'nobody'",
        "steps[2].config.strategy: unknown strategy 'coin'",
        "steps[3].config.to[0]: not a valid email address",
        "steps[4].config.extra: unknown option",
        "steps[4].config.stage: unknown lifecycle stage 'happy'",
        "steps[5].kind: unknown step kind 'teleport'",
    ):
        assert any(m.startswith(expected) for m in messages), (expected, messages)


def test_playbook_create_is_atomic_on_bad_steps():
    from playbooks.models import Playbook

    segment = SegmentFactory()
    with pytest.raises(ValidationError):
        services.playbook_create(
            name="Bad", segment=segment, steps=[{"kind": "webhook", "config": {}}]
        )
    with pytest.raises(ValidationError) as error:
        services.playbook_create(
            name="Exit", segment=segment, trigger="on_exit", on_activation="run_for_current_members"
        )
    assert "on_activation" in error.value.message_dict
    assert not Playbook.objects.exists()


def test_templates_cannot_reach_beyond_the_whitelisted_fields(today):
    owner = UserFactory(username="maya")
    run = make_run(
        "create_task",
        {"title": "{{ account.owner.password }}|{{ account.csm }}|{{ account.save }}"},
        account=AccountFactory(owner=owner),
    )
    services.playbook_run_execute(run_id=run.id)
    assert run.tasks.get().title == "|maya|"

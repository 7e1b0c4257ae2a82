"""The playbook engine: runs from membership events, exactly once, with stable_days,
reentry cooldown, activation options; and the dry run."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.tests.factories import AccountFactory
from playbooks import services
from playbooks.models import (
    PlaybookActivation,
    PlaybookRun,
    PlaybookStepRun,
    PlaybookTrigger,
    RunStatus,
    Task,
    TaskSource,
)
from playbooks.tests.factories import (
    MembershipEventFactory,
    MembershipFactory,
    PlaybookFactory,
    PlaybookStepFactory,
    SegmentFactory,
)

pytestmark = pytest.mark.django_db


def at(day, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()) + timedelta(hours=hour))


@pytest.fixture
def segment():
    return SegmentFactory(name="At risk")


@pytest.fixture
def playbook(segment, today):
    playbook = PlaybookFactory(
        name="Save the account", segment=segment, activated_at=at(today - timedelta(days=60))
    )
    PlaybookStepFactory(
        playbook=playbook,
        order=1,
        kind="create_task",
        config={
            "title": "Call {{ account.name }} ({{ segment.name }})",
            "description": "Health {{ account.health_score|default:'unknown' }}",
            "due_in_days": 3,
            "assignee": "owner",
        },
    )
    return playbook


def execute_all(result) -> None:
    for run_id in result.run_ids:
        services.playbook_run_execute(run_id=run_id)


def test_playbook_fires_once_per_entry(today, playbook, segment, csm):
    # Given an account of the CSM that entered the segment
    account = AccountFactory(name="ACME", owner=csm, health_score=40)
    event = MembershipEventFactory(segment=segment, account=account, at=at(today))

    # When events are processed (twice) and the run executed (twice)
    first = services.playbooks_process_events(segment_id=segment.id, today=today)
    execute_all(first)
    second = services.playbooks_process_events(today=today)
    for run_id in first.run_ids:
        services.playbook_run_execute(run_id=run_id)

    # Then exactly one run exists, done, with one task for the owner
    assert (first.runs_created, second.runs_created) == (1, 0)
    run = PlaybookRun.objects.get()
    assert (run.membership_event, run.status) == (event, RunStatus.DONE)
    task = Task.objects.get()
    assert (task.title, task.assignee, task.source, task.playbook_run) == (
        "Call ACME (At risk)",
        csm,
        TaskSource.PLAYBOOK,
        run,
    )
    assert task.description == "Health 40"
    assert task.due_date == today + timedelta(days=3)
    step_run = PlaybookStepRun.objects.get()
    assert (step_run.outcome, step_run.attempts) == ("ok", 1)


def test_database_refuses_a_second_run_for_one_event(playbook, segment, today):
    from django.db import IntegrityError, transaction

    event = MembershipEventFactory(segment=segment, at=at(today))
    PlaybookRun.objects.create(
        playbook=playbook, account=event.account, membership_event=event, triggered_at=event.at
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        PlaybookRun.objects.create(
            playbook=playbook, account=event.account, membership_event=event, triggered_at=event.at
        )


def test_on_exit_reacts_to_exits_only(today, segment):
    playbook = PlaybookFactory(
        segment=segment, trigger=PlaybookTrigger.ON_EXIT, activated_at=at(today - timedelta(days=9))
    )
    account = AccountFactory()
    MembershipEventFactory(segment=segment, account=account, kind="entered", at=at(today, 8))
    exited = MembershipEventFactory(segment=segment, account=account, kind="exited", at=at(today))

    result = services.playbooks_process_events(today=today)

    assert result.runs_created == 1
    assert PlaybookRun.objects.get(playbook=playbook).membership_event == exited


def test_events_before_activation_and_other_segments_are_ignored(today, playbook, segment):
    MembershipEventFactory(segment=segment, at=playbook.activated_at - timedelta(seconds=1))
    MembershipEventFactory(segment=SegmentFactory(), at=at(today))
    PlaybookFactory(segment=segment, is_active=False)

    result = services.playbooks_process_events(today=today)

    assert result.runs_created == 0 and not PlaybookRun.objects.exists()


def test_stable_days_waits_then_acts(today, segment):
    # Given a playbook that acts only after 7 stable days, and an entry 5 days ago
    playbook = PlaybookFactory(
        segment=segment, stable_days=7, activated_at=at(today - timedelta(days=60))
    )
    PlaybookStepFactory(playbook=playbook)
    MembershipEventFactory(segment=segment, at=at(today - timedelta(days=5)))

    # When processed today and 2 days later
    now = services.playbooks_process_events(today=today)
    later = services.playbooks_process_events(today=today + timedelta(days=2))

    # Then it waits, then acts once the account stayed 7 days
    assert (now.runs_created, later.runs_created) == (0, 1)


def test_stable_days_skips_a_flapping_account(today, segment):
    # Given an account that entered 10 days ago and left 3 days later
    playbook = PlaybookFactory(
        segment=segment, stable_days=7, activated_at=at(today - timedelta(days=60))
    )
    account = AccountFactory()
    MembershipEventFactory(segment=segment, account=account, at=at(today - timedelta(days=10)))
    MembershipEventFactory(
        segment=segment, account=account, kind="exited", at=at(today - timedelta(days=7))
    )

    # When processed
    result = services.playbooks_process_events(today=today)

    # Then the entry is recorded as skipped (never acted on, never reconsidered)
    assert (result.runs_created, result.runs_skipped) == (0, 1)
    run = PlaybookRun.objects.get(playbook=playbook)
    assert run.status == RunStatus.SKIPPED and "stable_days" in run.detail
    assert services.playbooks_process_events(today=today).runs_skipped == 0


def test_reentry_cooldown_skips_a_quick_reentry(today, segment):
    # Given a 30-day cooldown and an account entering, leaving and re-entering
    playbook = PlaybookFactory(
        segment=segment, reentry_cooldown_days=30, activated_at=at(today - timedelta(days=90))
    )
    account = AccountFactory()
    for days_ago, kind in ((50, "entered"), (45, "exited"), (40, "entered"), (5, "exited")):
        MembershipEventFactory(
            segment=segment, account=account, kind=kind, at=at(today - timedelta(days=days_ago))
        )
    MembershipEventFactory(segment=segment, account=account, at=at(today - timedelta(days=2)))

    # When processed
    result = services.playbooks_process_events(today=today)

    # Then: day -50 runs, day -40 is within 30 days of it (skipped), day -2 runs again
    runs = list(PlaybookRun.objects.filter(playbook=playbook).order_by("triggered_at"))
    assert [r.status for r in runs] == [RunStatus.PENDING, RunStatus.SKIPPED, RunStatus.PENDING]
    assert "reentry_cooldown_days" in runs[1].detail
    assert (result.runs_created, result.runs_skipped) == (2, 1)


def test_activation_for_current_members_runs_once_per_member(today, segment):
    # Given two members since before activation and one that entered after it
    activated = at(today - timedelta(days=1))
    playbook = PlaybookFactory(
        segment=segment,
        activated_at=activated,
        on_activation=PlaybookActivation.RUN_FOR_CURRENT_MEMBERS,
    )
    old_members = [MembershipFactory(segment=segment) for _ in range(2)]
    newcomer = MembershipFactory(segment=segment, entered_at=at(today))
    MembershipEventFactory(segment=segment, account=newcomer.account, at=newcomer.entered_at)

    # When processed twice
    first = services.playbooks_process_events(today=today)
    second = services.playbooks_process_events(today=today)

    # Then each old member has one activation run and the newcomer one event run
    assert (first.runs_created, second.runs_created) == (3, 0)
    activation_runs = PlaybookRun.objects.filter(playbook=playbook, membership_event__isnull=True)
    assert {r.account_id for r in activation_runs} == {m.account_id for m in old_members}
    assert PlaybookRun.objects.get(membership_event__isnull=False).account == newcomer.account


def test_only_new_entries_ignores_current_members(today, segment):
    PlaybookFactory(segment=segment, activated_at=at(today - timedelta(days=1)))
    MembershipFactory(segment=segment)
    assert services.playbooks_process_events(today=today).runs_created == 0


def test_activation_through_the_service_sets_activated_at(segment):
    playbook = services.playbook_create(
        name="Onboard",
        segment=segment,
        steps=[{"kind": "create_task", "config": {"title": "Kick-off with {{ account.name }}"}}],
    )
    assert playbook.activated_at is None and not playbook.is_active
    services.playbook_activate(playbook=playbook)
    assert playbook.is_active and playbook.activated_at is not None
    assert list(playbook.steps.values_list("order", "config__due_in_days")) == [(1, 7)]


def test_processing_is_set_based(today, playbook, segment):
    # Given 40 entries
    for _ in range(40):
        MembershipEventFactory(segment=segment, at=at(today))

    # When processed, the number of queries does not grow with the number of events
    with CaptureQueriesContext(connection) as queries:
        result = services.playbooks_process_events(today=today)
    assert result.runs_created == 40
    assert len(queries) <= 12


def test_dry_run_changes_nothing(today, segment, csm, other_csm):
    # Given a playbook with every kind of step and two members, one without an owner
    playbook = PlaybookFactory(segment=segment)
    configs = [
        ("assign_csm", {"pool": ["csm", "other_csm"], "strategy": "round_robin"}),
        ("create_task", {"title": "Call {{ account.name }}", "assignee": "owner"}),
        ("send_email", {"subject": "Hi {{ account.name }}", "body": "b", "to": ["x@example.com"]}),
        ("set_lifecycle_stage", {"stage": "at_risk"}),
        ("webhook", {"url": "http://127.0.0.1:9/hook", "secret": "s"}),
    ]
    for order, (kind, config) in enumerate(configs, start=1):
        PlaybookStepFactory(playbook=playbook, order=order, kind=kind, config=config)
    owned = AccountFactory(name="Alpha", owner=csm, lifecycle_stage="at_risk")
    orphan = AccountFactory(name="Beta", owner=None)
    for account in (owned, orphan):
        MembershipFactory(segment=segment, account=account)
    counts_before = (
        Task.objects.count(),
        PlaybookRun.objects.count(),
        PlaybookStepRun.objects.count(),
    )

    # When a dry run is asked for
    with CaptureQueriesContext(connection) as queries:
        plan = services.playbook_dry_run(playbook=playbook)

    # Then it says what would happen per account...
    assert plan["members"] == 2
    alpha, beta = plan["accounts"]
    assert alpha["account"]["name"] == "Alpha"
    assert [s["would"] for s in alpha["steps"]] == ["skip", "run", "run", "skip", "run"]
    assert alpha["steps"][1]["title"] == "Call Alpha" and alpha["steps"][1]["assignee"] == "csm"
    assert beta["steps"][0]["assignee"] == "csm"
    assert beta["steps"][1]["assignee"] is None
    assert beta["steps"][2]["to"] == ["x@example.com"]
    # ... and wrote nothing
    assert not any(
        q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        for q in queries.captured_queries
    )
    assert counts_before == (
        Task.objects.count(),
        PlaybookRun.objects.count(),
        PlaybookStepRun.objects.count(),
    )
    orphan.refresh_from_db()
    assert orphan.owner is None

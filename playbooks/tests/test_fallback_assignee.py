"""A playbook's fallback assignee: the owner's task of an account without an owner goes to
it, and the run says so (the dry run too)."""

import pytest

from customers.tests.factories import AccountFactory, UserFactory
from playbooks import services
from playbooks.models import PlaybookRun, PlaybookStepRun, RunStatus, StepKind, StepOutcome, Task
from playbooks.tests.test_playbook_steps import make_run
from segments.models import Membership

pytestmark = pytest.mark.django_db

TASK = {"title": "Call {{ account.name }}", "due_in_days": 3}


def test_an_ownerless_account_s_task_goes_to_the_fallback_and_the_run_says_so(today):
    # Given a playbook with a fallback assignee, run for an account without an owner
    fallback = UserFactory(username="team-lead")
    run = make_run(StepKind.CREATE_TASK, TASK, account=AccountFactory(name="Orphan", owner=None))
    services.playbook_update(playbook=run.playbook, data={"fallback_assignee": fallback})

    # When the run executes
    services.playbook_run_execute(run_id=run.id)

    # Then the task is the fallback's, and both the step and the run say why
    task = Task.objects.get(playbook_run=run)
    assert task.assignee == fallback and task.title == "Call Orphan"
    step_run = PlaybookStepRun.objects.get(run=run)
    assert step_run.outcome == StepOutcome.OK
    assert "no owner: assigned to the playbook's fallback assignee team-lead" in step_run.detail
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert run.detail == "the account had no owner: its task went to the fallback assignee"


def test_an_owned_account_keeps_its_owner_and_no_fallback_leaves_it_unassigned(today):
    owner = UserFactory(username="csm-a")
    owned = make_run(StepKind.CREATE_TASK, TASK, account=AccountFactory(owner=owner))
    services.playbook_update(
        playbook=owned.playbook, data={"fallback_assignee": UserFactory(username="lead")}
    )
    orphan = make_run(StepKind.CREATE_TASK, TASK, account=AccountFactory(owner=None))

    services.playbook_run_execute(run_id=owned.id)
    services.playbook_run_execute(run_id=orphan.id)

    assert Task.objects.get(playbook_run=owned).assignee == owner
    assert Task.objects.get(playbook_run=orphan).assignee is None
    assert PlaybookRun.objects.get(pk=orphan.pk).detail == ""


def test_the_dry_run_shows_the_fallback(today):
    fallback = UserFactory(username="lead")
    account = AccountFactory(name="Orphan", owner=None)
    run = make_run(StepKind.CREATE_TASK, TASK, account=account)
    Membership.objects.create(
        segment=run.playbook.segment, account=account, entered_at=run.triggered_at
    )
    services.playbook_update(playbook=run.playbook, data={"fallback_assignee": fallback})

    plan = services.playbook_dry_run(playbook=run.playbook)["accounts"][0]["steps"][0]

    assert plan["assignee"] == "lead" and "fallback assignee" in plan["note"]

"""End to end on the real broker and a real worker process: the segment engine's signal
leads to a playbook run and its task; "rebuild now" builds the renewal queue."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import wait_for
from customers.tests.factories import AccountFactory, ContractFactory, UserFactory
from playbooks.models import (
    PlaybookRun,
    RenewalQueueEntry,
    RenewalWindow,
    RunStatus,
    Task,
    TaskSource,
)
from playbooks.tasks import renewal_queue_rebuild_task
from playbooks.tests.factories import MembershipEventFactory, PlaybookFactory, PlaybookStepFactory
from segments.signals import memberships_changed

pytestmark = pytest.mark.redis


def test_membership_signal_runs_the_playbook_in_the_worker(celery_worker_process):
    # Given an active playbook and an account of Maya's that just entered its segment
    maya = UserFactory(username="maya")
    playbook = PlaybookFactory(activated_at=timezone.now() - timedelta(days=1))
    PlaybookStepFactory(playbook=playbook, order=1, config={"title": "Welcome {{ account.name }}"})
    account = AccountFactory(name="ACME", owner=maya)
    event = MembershipEventFactory(segment=playbook.segment, account=account)

    # When the segment engine announces the new events (as it does after commit)
    memberships_changed.send(
        sender=None,
        segment_id=playbook.segment_id,
        event_ids=[event.id],
        event_id_range=(event.id, event.id),
        event_count=1,
    )

    # Then the worker creates the run, executes it, and Maya has her task
    run = wait_for(
        lambda: PlaybookRun.objects.filter(playbook=playbook, status=RunStatus.DONE).first()
    )
    assert run is not None and run.membership_event_id == event.id
    task = Task.objects.get(playbook_run=run)
    assert (task.title, task.assignee, task.source) == ("Welcome ACME", maya, TaskSource.PLAYBOOK)


def test_rebuild_now_in_the_worker(celery_worker_process):
    # (transactional tests start without the default windows of the data migration)
    for days in (120, 90):
        RenewalWindow.objects.get_or_create(days=days, defaults={"name": f"T-{days}"})
    today = timezone.localdate()
    contract = ContractFactory(
        start_date=today - timedelta(days=300), end_date=today + timedelta(days=45)
    )

    renewal_queue_rebuild_task.delay()

    # one renewal task (its tightest window), two queue entries (T-120 and T-90)
    assert wait_for(lambda: Task.objects.filter(contract=contract).count() == 1)
    assert RenewalQueueEntry.objects.filter(contract=contract).count() == 2

"""Signal receivers: they enqueue work (after commit), or make a delete wait for the
renewal queue build. Connected in ``PlaybooksConfig.ready``."""

from typing import Any

from django.db import transaction

from .renewal_queue import renewal_writers_lock
from .tasks import (
    process_events_task,
    renewal_queue_rebuild_enqueue_debounced,
    run_execute_task,
)


def process_segment_playbooks(sender: Any, segment_id: int | None, **kwargs: Any) -> None:
    """Membership events were recorded for ``segment_id`` (``segments.signals.
    memberships_changed``), or a playbook of it was activated or changed
    (``signals.playbook_processing_requested``): process its playbooks after commit
    (every segment's when ``segment_id`` is None)."""
    process_events_task.delay_on_commit(segment_id)


def on_runs_pending(sender: Any, run_ids: list[int], **kwargs: Any) -> None:
    """Runs were created or found lost (``signals.playbook_runs_pending``): execute each."""
    for run_id in run_ids:
        run_execute_task.delay_on_commit(run_id)


def wait_for_renewal_build(sender: Any, **kwargs: Any) -> None:
    """Accounts (``customers.signals.account_deleting``) or a user (``pre_delete``) are
    about to be deleted: wait for a running renewal build, and keep the next one off until
    the delete commits. Both are sent before Django collects or nulls the rows that point
    at them, so the delete then finds every entry and task the build wrote; otherwise the
    build's commit would fail on a task whose account or assignee is gone."""
    renewal_writers_lock(shared=True)


def rebuild_renewal_queue_soon(sender: Any, **kwargs: Any) -> None:
    """Accounts or contracts changed (``customers.signals.accounts_changed``, sent after
    commit), or a renewal was closed (``signals.renewal_queue_changed``, sent inside the
    transaction): queue a debounced delta build of the renewal queue after commit, so new,
    changed and closed contracts reach the queue without waiting for the nightly job."""
    transaction.on_commit(renewal_queue_rebuild_enqueue_debounced)

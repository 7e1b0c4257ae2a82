"""Signal receivers: they record work (``cs_platform.outbox``, in the sender's transaction
when the signal is sent inside one), or make a delete wait for the renewal queue build.
Connected in ``PlaybooksConfig.ready``."""

import logging
from typing import Any

from django.db import DatabaseError, transaction

from .renewal_queue import renewal_writers_lock
from .tasks import (
    process_events_request,
    renewal_rebuild_request_debounced,
    runs_execute_request,
)

logger = logging.getLogger(__name__)


def process_segment_playbooks(sender: Any, segment_id: int | None, **kwargs: Any) -> None:
    """A playbook of ``segment_id`` was activated or changed (``signals.
    playbook_processing_requested``, inside the transaction): record the processing of
    its playbooks (every segment's when ``segment_id`` is None) in that transaction."""
    process_events_request(segment_id=segment_id)


def on_memberships_changed(sender: Any, segment_id: int, **kwargs: Any) -> None:
    """Membership events were recorded for ``segment_id`` (``segments.signals.
    memberships_changed``, sent after commit): record the processing of its playbooks.
    Never raises: the events are committed and wait for the scheduled processing."""
    try:
        with transaction.atomic():
            process_events_request(segment_id=segment_id)
    except DatabaseError:
        logger.warning("could not queue playbook processing", exc_info=True)


def on_runs_pending(sender: Any, run_ids: list[int], **kwargs: Any) -> None:
    """Runs were created or found lost (``signals.playbook_runs_pending``, inside the
    transaction that wrote them): record their execution, in batches."""
    runs_execute_request(run_ids=run_ids)


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
    transaction): record a debounced delta build of the renewal queue, so new, changed and
    closed contracts reach the queue without waiting for the nightly job. Never raises: the
    nightly build catches up if this cannot be recorded."""
    try:
        with transaction.atomic():
            renewal_rebuild_request_debounced()
    except DatabaseError:
        logger.warning("could not queue the renewal queue build", exc_info=True)

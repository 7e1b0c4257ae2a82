"""Signal receivers: they enqueue work (after commit), or make a delete wait for the
renewal queue build."""

from typing import Any


def on_memberships_changed(sender: Any, segment_id: int, **kwargs: Any) -> None:
    """Membership events were recorded for ``segment_id``: process playbooks for it."""
    from .tasks import process_events_task

    process_events_task.delay_on_commit(segment_id)


def wait_for_renewal_build(sender: Any, **kwargs: Any) -> None:
    """Accounts (``customers.signals.account_deleting``) or a user (``pre_delete``) are
    about to be deleted: wait for a running renewal build, and keep the next one off until
    the delete commits. Both are sent before Django collects or nulls the rows that point
    at them, so the delete then finds every entry and task the build wrote; otherwise the
    build's commit would fail on a task whose account or assignee is gone."""
    from .renewal_queue import renewal_writers_lock

    renewal_writers_lock(shared=True)

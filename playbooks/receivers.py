"""Signal receivers: they enqueue work (after commit), or make a delete wait for the
renewal queue build."""

from typing import Any


def on_memberships_changed(sender: Any, segment_id: int, **kwargs: Any) -> None:
    """Membership events were recorded for ``segment_id``: process playbooks for it."""
    from .tasks import process_events_task

    process_events_task.delay_on_commit(segment_id)


def on_account_deleting(sender: Any, account_ids: list[int], **kwargs: Any) -> None:
    """Accounts are about to be deleted: wait for a running renewal build (and keep the
    next one off until the delete commits), so the delete's cascade finds every entry and
    task the build wrote for them; otherwise the build's commit would fail on a task whose
    account is gone."""
    from .renewal_queue import renewal_writers_lock

    renewal_writers_lock(shared=True)


def on_user_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A user is about to be deleted (pre_delete, sent before Django nulls the tasks,
    entries and accounts that point at them): the same wait, for the same reason."""
    from .renewal_queue import renewal_writers_lock

    renewal_writers_lock(shared=True)

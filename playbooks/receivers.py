"""Signal receivers: they only enqueue work (after commit)."""

from typing import Any


def on_memberships_changed(sender: Any, segment_id: int, **kwargs: Any) -> None:
    """Membership events were recorded for ``segment_id``: process playbooks for it."""
    from .tasks import process_events_task

    process_events_task.delay_on_commit(segment_id)

"""Signal receivers of the segment engine: they only enqueue work."""

from typing import Any

from django.dispatch import receiver

from customers.signals import accounts_changed, picklist_value_removing

from .selectors import segments_using_value
from .signals import recompute_requested
from .tasks import evaluate_changed_enqueue_debounced, segment_recompute_task


@receiver(accounts_changed, dispatch_uid="segments_evaluate_changed_accounts")
def on_accounts_changed(sender: Any, account_ids: list[int] | None = None, **kwargs: Any) -> None:
    """Account data changed (sent after commit): the accounts are already marked for
    re-evaluation (``PendingEvaluation``); queue the debounced sweep that re-evaluates them."""
    evaluate_changed_enqueue_debounced()


@receiver(recompute_requested, dispatch_uid="segments_recompute_requested")
def on_recompute_requested(
    sender: Any, segment_id: int, version_id: int | None = None, **kwargs: Any
) -> None:
    """A write needs a segment recomputed (sent inside its transaction): queue the task
    for when that transaction commits (nothing is sent if it rolls back)."""
    segment_recompute_task.delay_on_commit(segment_id, version_id)


@receiver(picklist_value_removing, dispatch_uid="segments_picklist_value_users")
def on_picklist_value_removing(sender: Any, field: str, value: str, **kwargs: Any) -> list[str]:
    """The segments whose published current rule compares ``field`` with ``value``: a
    picklist value they use cannot be merged away, renamed or deleted."""
    return segments_using_value(field=field, value=value)

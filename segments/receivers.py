"""Signal receivers of the segment engine: they only record work (``cs_platform.outbox``),
in the sender's transaction when the signal is sent inside one."""

import logging
from typing import Any

from django.db import DatabaseError, transaction
from django.dispatch import receiver

from customers.selectors import account_ids_pending_evaluation
from customers.signals import accounts_changed, accounts_marked, picklist_value_removing

from .selectors import segments_using_value
from .signals import recompute_requested
from .tasks import evaluate_changed_request, segment_recompute_request

logger = logging.getLogger(__name__)

# Marks looked up after a commit to tell whether the sweep has passed them already.
MARKS_CHECKED = 1_000


@receiver(accounts_marked, dispatch_uid="segments_sweep_marked_accounts")
def on_accounts_marked(sender: Any, **kwargs: Any) -> None:
    """Accounts were marked for re-evaluation (sent inside the writer's transaction):
    record the sweep in that transaction (one queued sweep at a time)."""
    evaluate_changed_request()


@receiver(accounts_changed, dispatch_uid="segments_evaluate_changed_accounts")
def on_accounts_changed(sender: Any, account_ids: list[int] | None = None, **kwargs: Any) -> None:
    """The marks committed (sent after commit). The sweep recorded in the transaction may
    have started before the commit and missed them: while any of them is still there,
    make sure a sweep is queued (nothing is added when one is queued already). Never
    raises: the write has committed, and its marks wait for the scheduled sweep."""
    marks = account_ids_pending_evaluation()
    if account_ids is not None:
        # The sweep takes marks in account id order: the last ids are swept last.
        marks = marks.filter(account_id__in=sorted(account_ids)[-MARKS_CHECKED:])
    try:
        with transaction.atomic():
            if marks.exists():
                evaluate_changed_request()
    except DatabaseError:
        logger.warning("could not queue the changed-accounts sweep after commit", exc_info=True)


@receiver(recompute_requested, dispatch_uid="segments_recompute_requested")
def on_recompute_requested(
    sender: Any, segment_id: int, version_id: int | None = None, **kwargs: Any
) -> None:
    """A write needs a segment recomputed (sent inside its transaction): record the
    recompute in that transaction; it is sent to a worker when it commits (nothing is
    recorded if it rolls back)."""
    segment_recompute_request(segment_id=segment_id, version_id=version_id)


@receiver(picklist_value_removing, dispatch_uid="segments_picklist_value_users")
def on_picklist_value_removing(sender: Any, field: str, value: str, **kwargs: Any) -> list[str]:
    """The segments whose published current rule compares ``field`` with ``value``: a
    picklist value they use cannot be merged away, renamed or deleted."""
    return segments_using_value(field=field, value=value)

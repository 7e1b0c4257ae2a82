"""Signal receivers of the health app."""

from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.dispatch import receiver

from segments.signals import accounts_evaluated, accounts_evaluating

from .engine import health_recompute
from .models import Scorecard
from .signals import recompute_requested
from .tasks import health_recompute_task


@receiver(recompute_requested, dispatch_uid="health_recompute_requested")
def on_recompute_requested(sender: Any, **kwargs: Any) -> None:
    """A scorecard changed (sent inside its transaction): recompute every account once the
    transaction commits (nothing is sent if it rolls back)."""
    health_recompute_task.delay_on_commit()


@receiver(accounts_evaluating, dispatch_uid="health_rescore_sweep_batch")
def on_accounts_evaluating(sender: Any, accounts: QuerySet, today: date, **kwargs: Any) -> None:
    """A segment sweep batch is about to evaluate ``accounts`` (their data changed):
    rescore them first, in the batch's transaction, so health segments see fresh scores.

    The one receiver that works inside the sender's transaction, on purpose: enqueuing
    would let the segments evaluate stale scores. The work is bounded by the batch (one
    set-based statement for every scorecard) and marks nothing (the batch is the sweep)."""
    health_recompute(accounts=accounts, today=today, mark_changed=False)


@receiver(accounts_evaluated, dispatch_uid="health_rescore_after_memberships")
def on_accounts_evaluated(sender: Any, accounts: QuerySet, today: date, **kwargs: Any) -> None:
    """The batch's segment memberships are written: an account that entered or left a
    scorecard's segment changes scorecard. Rescore the batch again (only when some
    scorecard has a segment); accounts whose health changes are marked, so the next sweep
    brings their health segments up to date."""
    if Scorecard.objects.filter(segment__isnull=False).exists():
        health_recompute(accounts=accounts, today=today, mark_changed=True)

"""Signal receivers of the segment engine: they only enqueue work."""

from typing import Any

from django.dispatch import receiver

from customers.signals import accounts_changed

from .tasks import evaluate_changed_enqueue_debounced


@receiver(accounts_changed, dispatch_uid="segments_evaluate_changed_accounts")
def on_accounts_changed(sender: Any, account_ids: list[int] | None = None, **kwargs: Any) -> None:
    """Account data changed (sent after commit): the accounts are already marked for
    re-evaluation (``PendingEvaluation``); queue the debounced sweep that re-evaluates them."""
    evaluate_changed_enqueue_debounced()

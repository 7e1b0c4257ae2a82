"""What the usage app does when other apps' data changes (connected in ``apps.ready``)."""

from typing import Any

from .features import usage_writers_lock


def wait_for_usage_writers(sender: Any, **kwargs: Any) -> None:
    """Accounts are about to be deleted (``customers.signals.account_deleting``): wait for
    a running ingestion, slide or retention, and keep the next one off until the delete
    commits. The daily table has no foreign-key constraint (``models.DailyUsage``), so
    this is what keeps an ingestion from writing rows of an account deleted meanwhile:
    it checks its accounts under the same lock (``ingest._check_still_there``)."""
    usage_writers_lock()

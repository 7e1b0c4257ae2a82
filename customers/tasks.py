"""Celery entry points of the customers app: thin, by id, idempotent."""

from django.db.models import Max, Min

from cs_platform.tasks import cs_task

from .import_jobs import import_job_run
from .models import Account
from .services import accounts_rederive_batch

# Accounts re-derived per transaction when no ids are given (a full sweep).
REDERIVE_BATCH_IDS = 20_000


@cs_task(name="customers.accounts_rederive")
def accounts_rederive_task(account_ids: list[int] | None = None) -> int:
    """Repair derived columns (arr, renewal_date, owner) of the given accounts, or of every
    account in bounded id-range batches. Returns how many accounts were repaired."""
    repaired: set[int] = set()
    if account_ids is not None:
        for start in range(0, len(account_ids), REDERIVE_BATCH_IDS):
            batch = account_ids[start : start + REDERIVE_BATCH_IDS]
            repaired.update(*accounts_rederive_batch(account_ids=batch))
        return len(repaired)
    bounds = Account.objects.aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return 0
    for low in range(bounds["low"], bounds["high"] + 1, REDERIVE_BATCH_IDS):
        id_range = (low, low + REDERIVE_BATCH_IDS - 1)
        repaired.update(*accounts_rederive_batch(id_range=id_range))
    return len(repaired)


@cs_task(name="customers.import_job_run", soft_time_limit=60 * 60, time_limit=61 * 60)
def import_job_run_task(job_id: int) -> None:
    """Run one import job (``customers.import_jobs``); a finished job is left as it is."""
    import_job_run(job_id=job_id)

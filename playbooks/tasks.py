"""Celery entry points of the playbooks app: thin, by id, idempotent. The services never
import this module; they send ``playbooks.signals``, which ``playbooks.receivers`` turn
into these tasks."""

from datetime import date

from django.conf import settings
from django.core.cache import cache

from cs_platform.tasks import cs_task

from .reviews import segment_review_reminders
from .services.execution import playbook_run_execute
from .services.renewals import renewal_queue_rebuild
from .services.tasks import tasks_wake_snoozed
from .services.triggers import playbook_runs_enqueue_pending, playbooks_process_events

# Webhook retries are bounded by the step's max_attempts; this is the outer bound.
RUN_MAX_RETRIES = 20
# One pending renewal build at a time per cache: a burst of contract changes (an import)
# queues one delta build, a few seconds later. A lost key costs one extra (cheap) delta.
RENEWAL_REBUILD_PENDING_KEY = "playbooks:renewal-rebuild:pending"


@cs_task(name="playbooks.renewal_queue_rebuild")
def renewal_queue_rebuild_task(
    today: str | None = None, full: bool = False, debounced: bool = False
) -> dict:
    """The daily job (and "rebuild now", and the debounced build after contract changes):
    renewal queue, its tasks, snoozed tasks due."""
    if debounced:  # changes from now on queue another build
        cache.delete(RENEWAL_REBUILD_PENDING_KEY)
    day = date.fromisoformat(today) if today else None
    build = renewal_queue_rebuild(today=day, full=full)
    woken = tasks_wake_snoozed(today=day)
    return {
        "build": build.pk,
        "full": build.full,
        "inserted": build.inserted,
        "updated": build.updated,
        "deleted": build.deleted,
        "tasks_created": build.tasks_created,
        "tasks_woken": woken,
    }


def renewal_queue_rebuild_enqueue_debounced() -> bool:
    """Queue a (delta) renewal queue build with a short countdown unless one is pending:
    contracts changed, or a renewal was closed, so the queue catches up by itself."""
    delay = int(getattr(settings, "RENEWAL_REBUILD_DEBOUNCE_SECONDS", 5))
    if not cache.add(RENEWAL_REBUILD_PENDING_KEY, 1, timeout=delay + 60):
        return False
    renewal_queue_rebuild_task.apply_async(kwargs={"debounced": True}, countdown=delay)
    return True


@cs_task(name="playbooks.process_events")
def process_events_task(segment_id: int | None = None) -> dict:
    """Create runs for new membership events (all segments when ``segment_id`` is None: the
    periodic sweep, which also handles stable_days and lost messages)."""
    result = playbooks_process_events(segment_id=segment_id)
    requeued = playbook_runs_enqueue_pending() if segment_id is None else 0
    if result.has_more:
        process_events_task.delay(segment_id)
    return {
        "created": result.runs_created,
        "skipped": result.runs_skipped,
        "requeued": requeued,
        "more": result.has_more,
    }


@cs_task(name="playbooks.run_execute", bind=True, max_retries=RUN_MAX_RETRIES)
def run_execute_task(self, run_id: int) -> None:
    """Execute one playbook run; a webhook asking for a retry re-schedules this task with
    the step's backoff (steps already done are not repeated)."""
    retry_in = playbook_run_execute(run_id=run_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@cs_task(name="playbooks.segment_review_reminders")
def segment_review_reminders_task(today: str | None = None) -> dict:
    """Flag overdue segment reviews to their owners (idempotent: once per overdue period)."""
    result = segment_review_reminders(today=date.fromisoformat(today) if today else None)
    return {
        "created": len(result.created),
        "already_flagged": result.already_flagged,
        "skipped_empty": result.skipped_empty,
    }

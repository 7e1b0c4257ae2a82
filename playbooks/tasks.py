"""Celery entry points of the playbooks app: thin, by id, idempotent. The services never
import this module; they send ``playbooks.signals``, which ``playbooks.receivers`` turn
into these tasks."""

from datetime import date

from cs_platform.tasks import cs_task

from .reviews import segment_review_reminders
from .services.execution import playbook_run_execute
from .services.renewals import renewal_queue_rebuild
from .services.tasks import tasks_wake_snoozed
from .services.triggers import playbook_runs_enqueue_pending, playbooks_process_events

# Webhook retries are bounded by the step's max_attempts; this is the outer bound.
RUN_MAX_RETRIES = 20


@cs_task(name="playbooks.renewal_queue_rebuild")
def renewal_queue_rebuild_task(today: str | None = None, full: bool = False) -> dict:
    """The daily job (and "rebuild now"): renewal queue, its tasks, snoozed tasks due."""
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

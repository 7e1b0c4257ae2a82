"""Celery entry points of the playbooks app: thin, by id, idempotent."""

from datetime import date

from cs_platform.tasks import cs_task

# review_tasks: registers playbooks.segment_review_reminders in every worker (autodiscovery
# imports only this module).
from . import review_tasks, services  # noqa: F401

# Webhook retries are bounded by the step's max_attempts; this is the outer bound.
RUN_MAX_RETRIES = 20


@cs_task(name="playbooks.renewal_queue_rebuild")
def renewal_queue_rebuild_task(today: str | None = None, full: bool = False) -> dict:
    """The daily job (and "rebuild now"): renewal queue, its tasks, snoozed tasks due."""
    day = date.fromisoformat(today) if today else None
    build = services.renewal_queue_rebuild(today=day, full=full)
    woken = services.tasks_wake_snoozed(today=day)
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
    result = services.playbooks_process_events(segment_id=segment_id)
    requeued = services.playbook_runs_enqueue_pending() if segment_id is None else 0
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
    retry_in = services.playbook_run_execute(run_id=run_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)

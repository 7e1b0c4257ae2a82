"""Celery entry points of the playbooks app: thin, by id, idempotent, and the helpers that
record them in the outbox (``cs_platform.outbox``). The services never import this
module; they send ``playbooks.signals``, which ``playbooks.receivers`` turn into these
tasks. Dependencies then run one way: tasks -> services -> signals."""

from datetime import date

from django.conf import settings

from cs_platform import outbox
from cs_platform.executions import RetryLater
from cs_platform.tasks import cs_task

from .reviews import segment_review_reminders
from .services.execution import playbook_run_execute, playbook_runs_execute
from .services.renewals import renewal_queue_rebuild
from .services.tasks import tasks_wake_snoozed
from .services.triggers import playbook_runs_recover, playbooks_process_events

# Runs executed per message: a 100k-member activation is 5,000 messages, not 100,000,
# each a few seconds of work (one run with one step is ~20 short statements and three
# commits: 0.1-0.2 s).
RUN_EXECUTE_BATCH = 20
# A batch stops after this long (slow webhooks: up to 30 s each) and queues its remaining
# runs as a new message, well inside the task's time limit.
RUN_BATCH_BUDGET = 120
# Webhook retries are bounded by the step's max_attempts; this is the outer bound.
RUN_MAX_RETRIES = 20


@cs_task(name="playbooks.renewal_queue_rebuild")
def renewal_queue_rebuild_task(
    today: str | None = None, full: bool = False, debounced: bool = False
) -> dict:
    """The daily job (and "rebuild now", and the debounced build after contract changes):
    renewal queue, its tasks, snoozed tasks due. (``debounced`` only names the debounced
    build's outbox row: once it has started, changes record another one.)"""
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
    requeued = playbook_runs_recover() if segment_id is None else 0
    if result.has_more:
        process_events_request(segment_id=segment_id)
    return {
        "created": result.runs_created,
        "skipped": result.runs_skipped,
        "requeued": requeued,
        "more": result.has_more,
    }


@cs_task(name="playbooks.runs_execute")
def runs_execute_task(run_ids: list[int]) -> dict:
    """Execute a batch of playbook runs; a run whose webhook asks for a retry continues
    alone (``playbooks.run_execute``), due after the step's backoff; runs left when the
    time budget is spent go on in a new message."""
    retries, rest = playbook_runs_execute(run_ids=run_ids, budget_seconds=RUN_BATCH_BUDGET)
    for run_id, wait in retries.items():
        outbox.enqueue(run_execute_task.name, run_id, delay=wait)
    if rest:
        runs_execute_request(run_ids=rest)
    return {"runs": len(run_ids) - len(rest), "retrying": len(retries), "left": len(rest)}


@cs_task(name="playbooks.run_execute", max_retries=RUN_MAX_RETRIES)
def run_execute_task(run_id: int) -> None:
    """Execute one playbook run; a webhook asking for a retry queues this task again
    with the step's backoff as its due time (steps already done are not repeated)."""
    retry_in = playbook_run_execute(run_id=run_id)
    if retry_in is not None:
        raise RetryLater(retry_in, f"run {run_id}: webhook retry in {retry_in} s")


@cs_task(name="playbooks.runs_recover")
def runs_recover_task() -> dict:
    """The schedule's job (every minute): execute again the runs whose lease lapsed (a
    worker died mid-run) and pending runs nobody queued."""
    return {"requeued": playbook_runs_recover()}


@cs_task(name="playbooks.segment_review_reminders")
def segment_review_reminders_task(today: str | None = None) -> dict:
    """Flag overdue segment reviews to their owners (idempotent: once per overdue period)."""
    result = segment_review_reminders(today=date.fromisoformat(today) if today else None)
    return {
        "created": len(result.created),
        "already_flagged": result.already_flagged,
        "skipped_empty": result.skipped_empty,
    }


# --- recording the work (in the caller's transaction) ----------------------------------------


def process_events_request(*, segment_id: int | None) -> None:
    """Record the processing of a segment's playbooks (all with None); one queued each."""
    outbox.enqueue(
        process_events_task.name,
        segment_id,
        dedupe_key=f"{process_events_task.name}:{segment_id}",
    )


def runs_execute_request(*, run_ids: list[int]) -> None:
    """Record the execution of runs, ``RUN_EXECUTE_BATCH`` per message."""
    for start in range(0, len(run_ids), RUN_EXECUTE_BATCH):
        outbox.enqueue(runs_execute_task.name, run_ids[start : start + RUN_EXECUTE_BATCH])


def renewal_rebuild_request(*, full: bool = False) -> None:
    """ "Rebuild now" (a button, a window change): recorded in the caller's transaction and
    sent to the interactive queue, ahead of any bulk backlog."""
    outbox.enqueue(
        renewal_queue_rebuild_task.name,
        kwargs={"full": full},
        queue="interactive",
        dedupe_key=f"{renewal_queue_rebuild_task.name}:now:{full}",
    )


def renewal_rebuild_request_debounced() -> None:
    """A delta build of the renewal queue a few seconds from now (contracts changed, or a
    renewal was closed), so the queue catches up by itself: a burst of changes (an import)
    coalesces into the one queued build (its due time is in the outbox, not a broker
    countdown)."""
    outbox.enqueue(
        renewal_queue_rebuild_task.name,
        kwargs={"debounced": True},
        delay=settings.RENEWAL_REBUILD_DEBOUNCE_SECONDS,
        dedupe_key=f"{renewal_queue_rebuild_task.name}:debounced",
    )

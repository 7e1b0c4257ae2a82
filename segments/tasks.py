"""Celery entry points of the segment engine: thin, idempotent, ids not instances."""

from django.conf import settings
from django.db import transaction

from cs_platform import outbox
from cs_platform.tasks import RETRYABLE_ERRORS, cs_task

from . import analytics, engine


@cs_task(name="segments.recompute")
def segment_recompute_task(segment_id: int, version_id: int | None = None) -> dict:
    """Full recompute of one segment; exits without writing if ``version_id`` is no
    longer the segment's current version."""
    result = engine.segment_recompute(segment_id=segment_id, version_id=version_id)
    return {
        "status": result.status,
        "entered": result.entered,
        "exited": result.exited,
        "member_count": result.member_count,
    }


@cs_task(name="segments.recompute_all")
def segments_recompute_all_task(accounts_per_range: int | None = None) -> dict:
    """The beat schedule's job (and "recompute all"): start a recompute of every active
    segment and record its work in the same transaction: one ``segments.recompute_range``
    per range of account ids (the unranked dynamic segments together; any number of bulk
    workers take them), and one ``segments.recompute`` per ranked or static segment. The
    last range queues the run's end (``segments.recompute_run_finish``).
    ``accounts_per_range``: the size of a range (default: the setting)."""
    with transaction.atomic():
        run = engine.recompute_run_start(accounts_per_range=accounts_per_range)
        range_ids = list(run.ranges.order_by("number").values_list("pk", flat=True))
        for range_id in range_ids:
            outbox.enqueue(segments_recompute_range_task.name, range_id)
        for segment_id in run.one_by_one:
            outbox.enqueue(
                segment_recompute_task.name,
                segment_id,
                None,
                queue="bulk",
                dedupe_key=f"{segment_recompute_task.name}:{segment_id}:None",
            )
        if not range_ids:
            run_finish_request(run_id=run.pk)
    return {"run": run.pk, "ranges": len(range_ids), "one_by_one": run.one_by_one}


@cs_task(name="segments.recompute_range")
def segments_recompute_range_task(range_id: int) -> dict:
    """One range of account ids of a recompute of every segment (one short transaction;
    a range done already does nothing). The range that leaves none to do queues the
    run's end: after its commit, so the end sees every range done (a kill in between
    re-runs this task, which finds the range done and queues the end again). A range
    that fails for good (not a transient database error) ends its run partial."""
    try:
        outcome = engine.recompute_range_apply(range_id=range_id)
    except RETRYABLE_ERRORS:
        raise  # delivered again later
    except Exception as exc:
        # Fails for good: end its run partial rather than leave it open for ever.
        engine.recompute_run_end_partial(range_id=range_id, error=f"{type(exc).__name__}: {exc}")
        raise
    if outcome.run_ready:
        run_finish_request(run_id=outcome.run_id)
    return {
        "run": outcome.run_id,
        "applied": outcome.applied,
        "entered": outcome.entered,
        "exited": outcome.exited,
    }


@cs_task(name="segments.recompute_run_finish")
def segments_recompute_run_finish_task(run_id: int) -> dict | None:
    """The end of a recompute of every segment: totals and snapshots, once."""
    result = engine.recompute_run_finish(run_id=run_id)
    if result is None:
        return None
    return {"segments": result.segments, "entered": result.entered, "exited": result.exited}


@cs_task(name="segments.recompute_date_dependent")
def segments_recompute_date_dependent_task() -> dict:
    """The day-change schedule's job: recompute the segments whose rules depend on today
    (usage windows, relative dates), so windows slide with the calendar."""
    result = engine.segments_recompute_date_dependent()
    return {"segments": result.segments, "entered": result.entered, "exited": result.exited}


@cs_task(name="segments.evaluate_changed")
def segments_evaluate_changed_task() -> dict:
    """Re-evaluate flagged accounts in bounded batches; re-enqueue while more remain."""
    result = engine.segments_evaluate_changed_accounts()
    if result.remaining:
        evaluate_changed_request(delay=0)
    return {
        "accounts": result.accounts,
        "batches": result.batches,
        "entered": result.entered,
        "exited": result.exited,
        "remaining": result.remaining,
    }


@cs_task(name="segments.analytics_warm")
def analytics_warm_task() -> None:
    """The schedule's job: keep the analytics page's figures in the shared cache (a cache
    hit when nothing changed since the last run)."""
    analytics.page_defaults_warm()


def evaluate_changed_request(*, delay: float | None = None) -> None:
    """Record a sweep of the changed accounts in the current transaction, unless one is
    queued already: a burst of changes coalesces into the queued sweep, and a change made
    while a sweep runs queues the next one. Due after ``SEGMENT_EVAL_DEBOUNCE_SECONDS``
    (default 0: at once, the coalescing alone batches a burst)."""
    outbox.enqueue(
        segments_evaluate_changed_task.name,
        delay=evaluate_changed_debounce_seconds() if delay is None else delay,
        dedupe_key=segments_evaluate_changed_task.name,
    )


def segment_recompute_request(*, segment_id: int, version_id: int | None) -> None:
    """Record a full recompute of a segment (of ``version_id``, or whichever version is
    current when it runs) in the current transaction; a queued identical one suffices."""
    outbox.enqueue(
        segment_recompute_task.name,
        segment_id,
        version_id,
        dedupe_key=f"{segment_recompute_task.name}:{segment_id}:{version_id}",
    )


def run_finish_request(*, run_id: int) -> None:
    """Record the end of a recompute of every segment (one queued per run)."""
    outbox.enqueue(
        segments_recompute_run_finish_task.name,
        run_id,
        dedupe_key=f"{segments_recompute_run_finish_task.name}:{run_id}",
    )


def evaluate_changed_debounce_seconds() -> float:
    return float(getattr(settings, "SEGMENT_EVAL_DEBOUNCE_SECONDS", 0))

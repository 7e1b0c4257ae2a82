"""Celery entry points of the segment engine: thin, idempotent, ids not instances."""

from django.conf import settings

from cs_platform import outbox
from cs_platform.tasks import cs_task

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
def segments_recompute_all_task() -> dict:
    """The beat schedule's job: a full recompute of every active segment (the unranked
    dynamic ones together, in one pass over the accounts)."""
    result = engine.segments_recompute_all()
    return {
        "segments": result.segments,
        "entered": result.entered,
        "exited": result.exited,
        "one_by_one": result.one_by_one,
    }


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


def evaluate_changed_debounce_seconds() -> float:
    return float(getattr(settings, "SEGMENT_EVAL_DEBOUNCE_SECONDS", 0))

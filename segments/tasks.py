"""Celery entry points of the segment engine: thin, idempotent, ids not instances."""

from django.conf import settings
from django.core.cache import cache

from cs_platform.tasks import cs_task

from . import analytics, engine

# One pending sweep at a time per cache (see receivers): the key lives for the debounce
# delay, so a burst of account changes enqueues one sweep; the sweep itself is cheap and
# idempotent when nothing is flagged, so a lost key costs at most one extra run.
EVALUATE_CHANGED_PENDING_KEY = "segments:evaluate-changed:pending"


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
    cache.delete(EVALUATE_CHANGED_PENDING_KEY)
    result = engine.segments_evaluate_changed_accounts()
    if result.remaining:
        segments_evaluate_changed_task.delay()
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


def evaluate_changed_enqueue_debounced() -> bool:
    """Enqueue the sweep with a short countdown unless one is already pending."""
    delay = evaluate_changed_debounce_seconds()
    if not cache.add(EVALUATE_CHANGED_PENDING_KEY, 1, timeout=delay + 60):
        return False
    segments_evaluate_changed_task.apply_async(countdown=delay)
    return True


def evaluate_changed_debounce_seconds() -> int:
    return int(getattr(settings, "SEGMENT_EVAL_DEBOUNCE_SECONDS", 5))

"""Celery entry points of the health app: thin and idempotent."""

from cs_platform.tasks import cs_task

from .engine import health_recompute


@cs_task(name="health.recompute")
def health_recompute_task() -> dict:
    """Recompute every account's health (the hourly schedule, a scorecard change, "recompute
    now"); writes only what changed and flags those accounts for the segment sweep."""
    result = health_recompute()
    return {"scored": result.scored, "changed": result.changed, "marked": result.marked}

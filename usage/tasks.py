"""Celery entry points of the usage app: thin and idempotent."""

from cs_platform.tasks import cs_task

from .services import usage_retention_apply


@cs_task(name="usage.retention")
def usage_retention_task() -> dict:
    """The nightly schedule's job: drop daily rows older than USAGE_RETENTION_DAYS."""
    return {"deleted": usage_retention_apply()}

"""Celery entry point of the segment review reminders (playbooks.reviews).

Celery's autodiscovery imports only ``playbooks.tasks``; that module imports this one so
the task is registered in every worker."""

from datetime import date

from cs_platform.tasks import cs_task

from .reviews import segment_review_reminders


@cs_task(name="playbooks.segment_review_reminders")
def segment_review_reminders_task(today: str | None = None) -> dict:
    """Flag overdue segment reviews to their owners (idempotent: once per overdue period)."""
    result = segment_review_reminders(today=date.fromisoformat(today) if today else None)
    return {
        "created": len(result.created),
        "already_flagged": result.already_flagged,
        "skipped_empty": result.skipped_empty,
    }

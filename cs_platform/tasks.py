"""The project-wide task decorator: every task gets a stable name, time limits and retries
for transient database and broker errors, so every task looks the same."""

from collections.abc import Callable
from typing import Any

from django.db import OperationalError

from .celery import app

DEFAULT_SOFT_TIME_LIMIT = 10 * 60
DEFAULT_TIME_LIMIT = DEFAULT_SOFT_TIME_LIMIT + 60


def cs_task(name: str, **options: Any) -> Callable:
    """Register a task under a stable ``name`` with the project's defaults."""
    defaults = {
        "name": name,
        "soft_time_limit": DEFAULT_SOFT_TIME_LIMIT,
        "time_limit": DEFAULT_TIME_LIMIT,
        "autoretry_for": (OperationalError,),
        "retry_backoff": True,
        "retry_backoff_max": 600,
        "max_retries": 5,
        "acks_late": True,
        "reject_on_worker_lost": True,
    }
    defaults.update(options)
    return app.task(**defaults)

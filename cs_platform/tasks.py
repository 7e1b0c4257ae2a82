"""The project-wide task decorator: every task gets a stable name, time limits, and runs
through the outbox's bookkeeping (``cs_platform.executions``), so every task looks the
same and none depends on the broker to be retried or recovered."""

import logging
from collections.abc import Callable
from typing import Any

from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError

from . import executions, outbox
from .celery import app

logger = logging.getLogger(__name__)

DEFAULT_SOFT_TIME_LIMIT = 10 * 60
DEFAULT_TIME_LIMIT = DEFAULT_SOFT_TIME_LIMIT + 60
# Transient database errors (a terminated backend, a deadlock, a failover): the row is
# queued again with backoff, at most the task's max_retries times.
RETRYABLE_ERRORS = (OperationalError, InterfaceError)
DEFAULT_MAX_RETRIES = 10


class OutboxTask(DjangoTask):
    """A task whose every delivery claims its outbox row before running and records the
    end after (``cs_platform.executions``): a delivery with nothing to claim (finished,
    running elsewhere, not due) does nothing; ``RetryLater`` and transient database
    errors queue the row again with a ``due_at``; other errors mark it failed.

    Called as a plain function (no message id) or applied eagerly without a row, the
    task just runs: there is no message to lose."""

    tracked = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        message_id = request.id or ""
        eager = bool(request.is_eager)
        if not self.tracked or not message_id or (eager and not message_id.startswith("outbox-")):
            return super().__call__(*args, **kwargs)
        execution = executions.execution_start(
            task=self.name, message_id=message_id, args=args, kwargs=kwargs
        )
        if execution is None:
            logger.info(
                "%s[%s]: nothing to claim (done, running or not due)", self.name, message_id
            )
            return None
        if not eager:
            executions.heartbeat_add(execution)
        try:
            result = super().__call__(*args, **kwargs)
        except executions.RetryLater as exc:
            executions.execution_retry(execution, delay=exc.seconds, error=str(exc))
            return None
        except RETRYABLE_ERRORS as exc:
            executions.connections_reset()
            again = executions.execution_retry(
                execution, error=f"{type(exc).__name__}: {exc}", failures_allowed=self.max_retries
            )
            logger.warning("%s[%s] hit %r; %s", self.name, message_id, exc, "retrying" * again)
            return None
        except Exception as exc:
            executions.connections_reset()
            executions.execution_failed(execution, error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            executions.heartbeat_remove(execution)
        executions.execution_done(execution)
        if outbox.queue_window(execution.queue) is not None and not eager:
            outbox.dispatch_due(execution.queue)  # pull the next of a windowed backlog
        return result


def cs_task(name: str, **options: Any) -> Callable:
    """Register a task under a stable ``name`` with the project's defaults."""
    defaults = {
        "name": name,
        "base": OutboxTask,
        "soft_time_limit": DEFAULT_SOFT_TIME_LIMIT,
        "time_limit": DEFAULT_TIME_LIMIT,
        "max_retries": DEFAULT_MAX_RETRIES,
        "acks_late": True,
        "reject_on_worker_lost": True,
    }
    defaults.update(options)
    return app.task(**defaults)


@cs_task(name="cs_platform.outbox_relay", tracked=False, soft_time_limit=50, time_limit=60)
def outbox_relay_task() -> dict:
    """The beat schedule's relay pass (every few seconds): send what is due, lost or held
    by a dead worker (``cs_platform.outbox.relay``). Not tracked itself: the next pass
    replaces a lost one."""
    result = outbox.relay()
    return {"sent": result.sent, "resent": result.resent, "purged": result.purged}

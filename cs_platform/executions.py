"""The worker side of the outbox (``cs_platform.outbox``): a task run claims its row, keeps
a lease on it with a heartbeat while it runs, and records how it ended.

- A message of an outbox row (task id ``outbox-<id>``) runs only if it can claim the row:
  queued and due, or running under a lease that ran out (its worker died) or held by a
  process of this host that no longer exists. A late or duplicated delivery (the
  broker's redelivery after its visibility timeout, a second relay) of a finished or
  running row finds nothing to claim and does nothing.
- A message that came without a row (sent by beat) is adopted: a row is written for it,
  running, so that a worker dying under it is noticed the same way.
- While a row runs, this process's heartbeat thread moves its lease forward every
  ``lease / 6`` seconds; a dead worker's lease runs out within ``OUTBOX_LEASE_SECONDS``
  and the relay sends the row again.
- The end: done; queued again with a delay (``RetryLater``, or a transient database
  error, with backoff); or failed (any other error, or too many attempts).
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.utils import timezone

from .models import OutboxMessage, OutboxState
from .outbox import insert_unless_duplicate, queue_for
from .worker_processes import holder_gone, worker_name

logger = logging.getLogger(__name__)

# Claims of one row before it is given up (a task that always dies, e.g. killed at its
# hard time limit every time); retryable errors have their own bound (the task's
# max_retries).
MAX_ATTEMPTS = 25
# Backoff after a retryable error: 1, 2, 4 ... seconds, at most this.
RETRY_BACKOFF_MAX = 600

T = TypeVar("T")


class RetryLater(Exception):  # noqa: N818 (a request, not an error)
    """Raised by a task to run again in ``seconds`` (e.g. a webhook's backoff): its row
    is queued again with that ``due_at``; nothing waits in the broker."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {seconds} s")
        self.seconds = seconds


@dataclass(frozen=True)
class Execution:
    """One claim of one outbox row: its id, and which attempt this process holds."""

    id: int
    attempt: int
    queue: str


def lease_duration() -> timedelta:
    return timedelta(seconds=getattr(settings, "OUTBOX_LEASE_SECONDS", 60))


def execution_start(*, task: str, message_id: str, args: Any, kwargs: Any) -> Execution | None:
    """Claim the row of this message (adopting a message that has none); None when there
    is nothing to do: finished, running elsewhere, not due yet, or given up."""
    return _on_a_live_connection(
        lambda: _start(task=task, message_id=message_id, args=args, kwargs=kwargs)
    )


def _start(*, task: str, message_id: str, args: Any, kwargs: Any) -> Execution | None:
    if message_id.startswith("outbox-"):
        row_id = int(message_id.removeprefix("outbox-"))
    else:
        adopted = _adopt(task=task, message_id=message_id, args=args, kwargs=kwargs)
        if isinstance(adopted, Execution):
            return adopted
        row_id = adopted
    now = timezone.now()
    lease = now + lease_duration()
    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update().filter(pk=row_id).first()
        if row is None or not _claimable(row, now):
            return None
        if row.attempts >= MAX_ATTEMPTS:
            _give_up(row, f"Gave up after {row.attempts} attempts (worker lost each time?).")
            return None
        row.state = OutboxState.RUNNING
        row.attempts += 1
        row.started_at = row.heartbeat_at = now
        row.lease_expires_at = row.next_check_at = lease
        row.worker = worker_name()
        row.save(
            update_fields=[
                "state",
                "attempts",
                "started_at",
                "heartbeat_at",
                "lease_expires_at",
                "next_check_at",
                "worker",
            ]
        )
    return Execution(id=row.pk, attempt=row.attempts, queue=row.queue)


def execution_done(execution: Execution) -> None:
    """The run succeeded. Only the attempt that holds the row records it (a run presumed
    dead whose row was taken over leaves the row to its successor)."""
    _finish(execution, state=OutboxState.DONE, error="")


def execution_failed(execution: Execution, *, error: str) -> None:
    """An error that running again would not fix: kept as failed, shown in the admin."""
    _finish(execution, state=OutboxState.FAILED, error=error)


def execution_retry(
    execution: Execution,
    *,
    error: str,
    delay: float | None = None,
    failures_allowed: int | None = None,
) -> bool:
    """Queue the row again to run in ``delay`` seconds (by default a backoff doubling
    with each failure). With ``failures_allowed`` (a retryable error), count the failure
    and give up past that many. When a queued row
    with the same dedupe key exists already, that one does the work: this one is done.
    Returns whether it will run again."""
    try:
        return _on_a_live_connection(
            lambda: _requeue(execution, error, delay=delay, failures_allowed=failures_allowed)
        )
    except DatabaseError:
        logger.warning(
            "outbox: could not requeue %s; its lease will run out", execution, exc_info=True
        )
        return False


def _requeue(
    execution: Execution, error: str, *, delay: float | None, failures_allowed: int | None
) -> bool:
    now = timezone.now()
    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update().filter(pk=execution.id).first()
        if not _held_by(row, execution):
            return False
        if failures_allowed is not None:
            row.error = f"attempt {row.attempts}: {error}"[:5000]
            failures = row.failures + 1
            if failures > failures_allowed:
                _give_up(row, f"Gave up after {failures} failures; last: {error}")
                return False
            row.failures = failures
        elif error:
            row.error = error[:5000]
        twin = (
            row.dedupe_key
            and OutboxMessage.objects.filter(
                dedupe_key=row.dedupe_key, state=OutboxState.QUEUED
            ).exists()
        )
        if twin:
            row.state, row.done_at, row.next_check_at = OutboxState.DONE, now, None
            row.error = f"{row.error} (superseded by a queued twin)".strip()
        else:
            row.state = OutboxState.QUEUED
            wait = retry_backoff(row.failures) if delay is None else delay
            row.due_at = row.next_check_at = now + timedelta(seconds=wait)
            row.dispatched_at = None
            row.dispatches = 0
        row.lease_expires_at = row.heartbeat_at = None
        row.save()
        return not twin


def retry_backoff(failures: int) -> float:
    """1, 2, 4 ... seconds after the 1st, 2nd, 3rd failure; at most RETRY_BACKOFF_MAX."""
    return float(min(2 ** max(failures - 1, 0), RETRY_BACKOFF_MAX))


def connections_reset() -> None:
    """After a database error, drop connections that are broken (e.g. the backend was
    terminated), so the bookkeeping that follows opens a fresh one."""
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue
        conn.close_if_unusable_or_obsolete()


# --- heartbeat ----------------------------------------------------------------------------


class _Heartbeat:
    """This process's running rows and the daemon thread that renews their leases."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[int, int] = {}
        self.thread: threading.Thread | None = None
        self.pid = 0

    def add(self, execution: Execution) -> None:
        with self.lock:
            self.running[execution.id] = execution.attempt
            if self.pid != os.getpid() or self.thread is None or not self.thread.is_alive():
                # A forked worker child does not inherit its parent's thread.
                self.pid = os.getpid()
                self.thread = threading.Thread(
                    target=self._loop, name="outbox-heartbeat", daemon=True
                )
                self.thread.start()

    def remove(self, execution: Execution) -> None:
        with self.lock:
            if self.running.get(execution.id) == execution.attempt:
                del self.running[execution.id]

    def _loop(self) -> None:
        while True:
            time.sleep(lease_duration().total_seconds() / 6)
            beat()


_heartbeat = _Heartbeat()


def heartbeat_add(execution: Execution) -> None:
    _heartbeat.add(execution)


def heartbeat_remove(execution: Execution) -> None:
    _heartbeat.remove(execution)


def beat() -> int:
    """Renew the leases of this process's running rows; returns how many were renewed.
    A database error (e.g. this thread's backend terminated) closes the connection: the
    next beat opens a new one, well within the lease."""
    with _heartbeat.lock:
        running = dict(_heartbeat.running)
    now = timezone.now()
    lease = now + lease_duration()
    renewed = 0
    try:
        for row_id, attempt in running.items():
            renewed += OutboxMessage.objects.filter(
                pk=row_id, attempts=attempt, state=OutboxState.RUNNING
            ).update(heartbeat_at=now, lease_expires_at=lease, next_check_at=lease)
    except DatabaseError:
        logger.warning("outbox: heartbeat failed; retrying", exc_info=True)
        connection.close()
    return renewed


# --- internals ----------------------------------------------------------------------------


def _adopt(*, task: str, message_id: str, args: Any, kwargs: Any) -> Execution | int | None:
    """A row for a message that came without one, already running under this process's
    lease; or the id of the row an earlier delivery of the same message adopted."""
    now = timezone.now()
    lease = now + lease_duration()
    message = OutboxMessage(
        task=task,
        args=list(args),
        kwargs=dict(kwargs),
        queue=queue_for(task),
        message_id=message_id,
        state=OutboxState.RUNNING,
        due_at=now,
        dispatched_at=now,
        attempts=1,
        started_at=now,
        heartbeat_at=now,
        lease_expires_at=lease,
        next_check_at=lease,
        worker=worker_name(),
    )
    row_id = insert_unless_duplicate(message)
    if row_id is not None:
        return Execution(id=row_id, attempt=1, queue=message.queue)
    return OutboxMessage.objects.filter(message_id=message_id).values_list("pk", flat=True).first()


def _claimable(row: OutboxMessage, now: Any) -> bool:
    if row.state == OutboxState.QUEUED:
        return row.due_at <= now
    if row.state == OutboxState.RUNNING:
        return (
            row.lease_expires_at is None or row.lease_expires_at <= now or holder_gone(row.worker)
        )
    return False


def _held_by(row: OutboxMessage | None, execution: Execution) -> bool:
    return (
        row is not None and row.state == OutboxState.RUNNING and row.attempts == execution.attempt
    )


def _finish(execution: Execution, *, state: str, error: str) -> None:
    def record() -> int:
        return OutboxMessage.objects.filter(
            pk=execution.id, attempts=execution.attempt, state=OutboxState.RUNNING
        ).update(
            state=state,
            done_at=timezone.now(),
            lease_expires_at=None,
            next_check_at=None,
            error=error[:5000],
        )

    try:
        _on_a_live_connection(record)
    except DatabaseError:
        logger.warning(
            "outbox: could not record the end of %s; its lease will run out",
            execution,
            exc_info=True,
        )


def _on_a_live_connection(bookkeeping: Callable[[], T]) -> T:
    """Run ``bookkeeping``; if the connection turns out to be lost (its backend was
    terminated while the task ran, or while a persistent connection sat idle between
    tasks), run it once more on a new connection. Without this, the row would wait for
    its lease to run out (a minute) although the worker is alive. Each bookkeeping step
    is one transaction that checks the row's state first, so running it again is safe.
    Inside a transaction the error is the caller's to handle."""
    try:
        return bookkeeping()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        logger.warning("outbox: bookkeeping hit a lost connection; reconnecting", exc_info=True)
        connection.close()
        return bookkeeping()


def _give_up(row: OutboxMessage, reason: str) -> None:
    logger.error("outbox: %s: %s", row, reason)
    row.state = OutboxState.FAILED
    row.done_at = timezone.now()
    row.next_check_at = row.lease_expires_at = None
    row.error = reason[:5000]
    row.save(update_fields=["state", "done_at", "next_check_at", "lease_expires_at", "error"])

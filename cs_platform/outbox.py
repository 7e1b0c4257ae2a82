"""The transactional outbox: background work recorded as rows (``OutboxMessage``) in the
transaction of the change that calls for it, and handed to the broker after commit.

- ``enqueue`` writes the row in the current transaction (or at once in autocommit) and
  dispatches it when the transaction commits. A broker that is down changes nothing for
  the writer: the row waits, and the relay sends it when the broker is back.
- ``relay`` (the ``cs_platform.outbox_relay`` beat task every few seconds, and the
  ``manage.py outbox_relay`` loop) sends what is due and was not sent, sends again what a
  broker restart lost (a grace period after each dispatch, doubling) and what a dead
  worker held (its lease ran out: ``cs_platform.executions``), and purges old rows.
- Delays (debounce, webhook backoff) are a ``due_at`` in the database, never a countdown
  in the broker, so nothing depends on the broker's visibility timeout.
- Queues with a window (``OUTBOX_QUEUE_WINDOWS``, e.g. ``bulk``) hold at most that many
  sent-but-not-started messages in the broker; the rest of a large fan-out waits here,
  in order, and is sent as workers take work. A grace period after a dispatch then means
  "lost", not "still queued behind a backlog".

Rows are executed at least once; tasks are idempotent, and ``cs_platform.executions``
makes a late or duplicated delivery of a finished or running row a no-op.
"""

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from .celery import app
from .db import table_name
from .models import OutboxMessage, OutboxState
from .worker_processes import holder_gone

logger = logging.getLogger(__name__)

OPEN_STATES = (OutboxState.QUEUED, OutboxState.RUNNING)
# Rows the relay sends per queue per pass (bounded work; the next pass takes the rest).
RELAY_BATCH_SIZE = 500
# Done rows purged per pass (one DELETE each).
PURGE_BATCH_SIZE = 5_000
# A failed immediate dispatch skips the next ones for this long (the relay sends them):
# during a broker outage a write pays for one failed connection, not one per request.
BROKER_BACKOFF_SECONDS = 5.0
# The dispatch of a row that was never started is given up after this many tries (a task
# no worker knows, e.g. renamed); the row is marked failed and shows in the admin.
MAX_DISPATCHES = 20
# A broker call from a request must fail fast, not retry for seconds.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}

_broker_down_until = 0.0


@dataclass
class RelayResult:
    sent: int = 0
    resent: int = 0
    failed: int = 0
    purged: int = 0
    broker_down: bool = False


def enqueue(
    task: str,
    *args: Any,
    kwargs: dict | None = None,
    delay: float = 0,
    due_at: datetime | None = None,
    dedupe_key: str | None = None,
    queue: str = "",
) -> int | None:
    """Record that ``task`` must run with ``args``/``kwargs``, in the current transaction,
    and dispatch it as soon as that commits (at once in autocommit).

    ``delay`` (seconds) or ``due_at`` defer it; the relay sends it when due. With a
    ``dedupe_key``, nothing is added while a row with that key is queued (not started)
    and visible here (committed, or written by this transaction): the queued one does the
    work of both (e.g. one pending sweep of changed accounts). Two transactions running
    at once may each add one (the second run then finds little to do); neither waits for
    the other. ``queue`` overrides the task's route. Returns the new row's id, or None
    when it coalesced with a queued one.
    """
    if queue and queue not in app.amqp.queues:
        raise ValueError(f"Unknown queue {queue!r}: not in CELERY_TASK_QUEUES.")
    if (
        dedupe_key
        and OutboxMessage.objects.filter(dedupe_key=dedupe_key, state=OutboxState.QUEUED).exists()
    ):
        return None
    now = timezone.now()
    due = due_at or now + timedelta(seconds=delay)
    message = OutboxMessage(
        task=task,
        args=list(args),
        kwargs=kwargs or {},
        queue=queue or queue_for(task),
        dedupe_key=dedupe_key,
        state=OutboxState.QUEUED,
        due_at=due,
        next_check_at=due,
    )
    row_id = insert_unless_duplicate(message)
    if row_id is not None and due <= now:
        transaction.on_commit(lambda: dispatch([row_id]), robust=True)
    return row_id


def queue_for(task: str) -> str:
    """The queue ``task`` is routed to by ``CELERY_TASK_ROUTES`` (else the default)."""
    return app.amqp.router.route({}, task)["queue"].name


def dispatch(ids: Iterable[int]) -> int:
    """Send the given rows if they are queued, due and not sent yet (after the commit
    that wrote them). Never raises: what could not be sent is left to the relay."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return 0
    try:
        rows = _take_for_dispatch(OutboxMessage.objects.filter(pk__in=list(ids)), new_only=True)
        sent, failed = _send(rows)
    except DatabaseError:
        logger.warning("outbox: immediate dispatch failed; the relay will send", exc_info=True)
        return 0
    if failed:
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
    return sent


def dispatch_due(queue: str) -> int:
    """Send the due rows of ``queue`` that its window allows (a worker that finished a
    row of a windowed queue calls this, so a backlog flows without waiting for the
    relay). Never raises."""
    try:
        rows = _take_for_dispatch(OutboxMessage.objects.filter(queue=queue), new_only=True)
        return _send(rows)[0]
    except DatabaseError:
        logger.warning("outbox: dispatch of queue %s failed", queue, exc_info=True)
        return 0


def relay(*, now: datetime | None = None) -> RelayResult:
    """One pass of the relay: per queue, send the rows whose ``next_check_at`` has come
    (due and never sent, sent but never started, or held by a worker whose lease ran
    out), then purge rows finished long ago."""
    result = RelayResult()
    now = now or timezone.now()
    _end_leases_of_vanished_holders(now)
    for queue in _queues():
        rows = _take_for_dispatch(OutboxMessage.objects.filter(queue=queue), now=now)
        resent = sum(1 for row in rows if row.dispatches > 1)
        sent, failed = _send(rows)
        result.sent += sent
        result.resent += min(resent, sent)
        result.failed += failed
        if failed:
            result.broker_down = True
            break  # the broker is down: the next pass tries again
    result.purged = purge(now=now)
    return result


def purge(*, now: datetime | None = None) -> int:
    """Delete done rows older than ``OUTBOX_KEEP_DONE_HOURS`` and failed ones older than
    ``OUTBOX_KEEP_FAILED_DAYS``, in one bounded statement each. A done row is kept a while
    so that a late duplicate of its message (an adopted beat message) is recognised."""
    now = now or timezone.now()
    keep_done = timedelta(hours=getattr(settings, "OUTBOX_KEEP_DONE_HOURS", 24))
    keep_failed = timedelta(days=getattr(settings, "OUTBOX_KEEP_FAILED_DAYS", 14))
    old = Q(state=OutboxState.DONE, done_at__lt=now - keep_done) | Q(
        state=OutboxState.FAILED, done_at__lt=now - keep_failed
    )
    ids = list(OutboxMessage.objects.filter(old).values_list("pk", flat=True)[:PURGE_BATCH_SIZE])
    if not ids:
        return 0
    return OutboxMessage.objects.filter(pk__in=ids).delete()[0]


def redispatch_grace(dispatches: int) -> timedelta:
    """How long a sent message may wait unstarted before it counts as lost: doubling
    with each dispatch, so a slow queue is not flooded with copies."""
    base = getattr(settings, "OUTBOX_REDISPATCH_SECONDS", 60)
    return timedelta(seconds=base * 2 ** min(max(dispatches - 1, 0), 5))


def requeue_failed(*, ids: Iterable[int]) -> int:
    """Queue failed rows again (an operator's "run again" after fixing the cause), due now
    and with their counters reset; returns how many. Other rows are left as they are."""
    now = timezone.now()
    return OutboxMessage.objects.filter(pk__in=list(ids), state=OutboxState.FAILED).update(
        state=OutboxState.QUEUED,
        due_at=now,
        next_check_at=now,
        dispatched_at=None,
        dispatches=0,
        attempts=0,
        failures=0,
        done_at=None,
    )


def open_count(*, task_prefix: str) -> int:
    """Rows not finished (queued or running) whose task name starts with ``task_prefix``."""
    return OutboxMessage.objects.filter(state__in=OPEN_STATES, task__startswith=task_prefix).count()


def queue_window(queue: str) -> int | None:
    """At most this many sent-but-unstarted messages of ``queue`` (None: no limit)."""
    return getattr(settings, "OUTBOX_QUEUE_WINDOWS", {}).get(queue)


# --- internals ----------------------------------------------------------------------------


def _queues() -> list[str]:
    return sorted(app.amqp.queues.keys())


def insert_unless_duplicate(message: OutboxMessage) -> int | None:
    """INSERT the row unless its unique key (``message_id``) exists already, in one
    statement (no error, nothing logged by the server): the new id, or None."""
    fields = [f for f in OutboxMessage._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(message, True), connection) for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table_name(OutboxMessage)} ({columns}) VALUES ({marks}) "
            "ON CONFLICT DO NOTHING RETURNING id",
            values,
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _end_leases_of_vanished_holders(now: datetime) -> None:
    """Running rows whose worker process (on this host) no longer exists: their lease ends
    now, so this pass sends them again instead of waiting for the lease to run out."""
    running = OutboxMessage.objects.filter(state=OutboxState.RUNNING, lease_expires_at__gt=now)
    vanished = [pk for pk, worker in running.values_list("pk", "worker") if holder_gone(worker)]
    if vanished:
        running.filter(pk__in=vanished).update(lease_expires_at=now, next_check_at=now)


def _take_for_dispatch(
    rows: Any, *, new_only: bool = False, now: datetime | None = None
) -> list[OutboxMessage]:
    """Lock the rows of ``rows`` that need sending now (skipping rows another relay
    holds), mark them sent, and return them; the caller sends them after this commits.

    New rows of a windowed queue are taken only up to the window; with ``new_only``,
    only rows never sent (the immediate dispatch after a commit)."""
    now = now or timezone.now()
    with transaction.atomic():
        candidates = rows.filter(state__in=OPEN_STATES, next_check_at__lte=now)
        if new_only:
            candidates = candidates.filter(state=OutboxState.QUEUED, dispatched_at__isnull=True)
        taken = list(
            candidates.select_for_update(skip_locked=True).order_by("next_check_at", "pk")[
                :RELAY_BATCH_SIZE
            ]
        )
        taken = _within_windows(taken)
        given_up = [row for row in taken if _never_started(row)]
        taken = [row for row in taken if row not in given_up]
        if given_up:
            OutboxMessage.objects.filter(pk__in=[row.pk for row in given_up]).update(
                state=OutboxState.FAILED,
                done_at=now,
                next_check_at=None,
                error=f"Never started after {MAX_DISPATCHES} dispatches (unknown task?).",
            )
        for row in taken:
            row.dispatched_at = now
            row.dispatches += 1
            # A running row is taken back from a dead worker: its queue delivered it, so
            # a lost resend (a consumer killed between taking it from Redis and recording
            # it) is sent again after the base grace, not a doubled one.
            sends = 1 if row.state == OutboxState.RUNNING else row.dispatches
            row.next_check_at = now + redispatch_grace(sends)
        OutboxMessage.objects.bulk_update(taken, ["dispatched_at", "dispatches", "next_check_at"])
    return taken


def _never_started(row: OutboxMessage) -> bool:
    return row.state == OutboxState.QUEUED and row.dispatches >= MAX_DISPATCHES


def _within_windows(rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """Drop the never-sent rows of windowed queues beyond what their windows allow."""
    allowance: dict[str, int] = {}
    kept = []
    for row in rows:
        window = queue_window(row.queue)
        if window is None or row.dispatched_at is not None:
            kept.append(row)
            continue
        if row.queue not in allowance:
            allowance[row.queue] = window - _in_flight(row.queue)
        if allowance[row.queue] > 0:
            allowance[row.queue] -= 1
            kept.append(row)
    return kept


def _in_flight(queue: str) -> int:
    """Messages of ``queue`` sent and not started yet (in the broker, or lost)."""
    return OutboxMessage.objects.filter(
        queue=queue, state=OutboxState.QUEUED, dispatched_at__isnull=False
    ).count()


def _send(rows: Sequence[OutboxMessage]) -> tuple[int, int]:
    """Publish each row's message (task id ``outbox-<id>``); on a broker error, mark the
    rest as not sent so the relay retries them. Returns (sent, failed)."""
    sent = 0
    for index, row in enumerate(rows):
        try:
            _publish(row)
        except Exception:  # noqa: BLE001 (any broker error: kombu, redis, socket)
            logger.warning("outbox: broker unavailable; %s left for the relay", row, exc_info=True)
            _unmark(rows[index:])
            return sent, len(rows) - index
        sent += 1
    return sent, 0


def _unmark(rows: Sequence[OutboxMessage]) -> None:
    """Undo ``_take_for_dispatch`` for rows that could not be sent: the relay's next pass
    takes them again (a first dispatch is no longer counted in the queue's window)."""
    now = timezone.now()
    first = [r.pk for r in rows if r.dispatches == 1]
    again = [r.pk for r in rows if r.dispatches > 1]
    OutboxMessage.objects.filter(pk__in=first).update(
        dispatched_at=None, dispatches=0, next_check_at=now
    )
    OutboxMessage.objects.filter(pk__in=again).update(
        dispatches=F("dispatches") - 1, next_check_at=now
    )


def _publish(row: OutboxMessage) -> None:
    task_id = f"outbox-{row.pk}"
    if app.conf.task_always_eager:
        # Tests that run tasks in-process: apply the registered task now.
        app.tasks[row.task].apply(args=row.args, kwargs=row.kwargs, task_id=task_id)
        return
    app.send_task(
        row.task,
        args=row.args,
        kwargs=row.kwargs,
        task_id=task_id,
        queue=row.queue or None,
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
    )

"""The platform's own table: the transactional outbox of background work
(``cs_platform.outbox`` writes and dispatches it, ``cs_platform.executions`` runs it)."""

from django.db import models
from django.db.models import Q


class OutboxState(models.TextChoices):
    QUEUED = "queued", "Queued"  # waiting to run: due later, dispatched, or to be dispatched
    RUNNING = "running", "Running"  # a worker holds it (lease_expires_at)
    DONE = "done", "Done"
    FAILED = "failed", "Failed"  # gave up: an error that retrying cannot fix, or too many tries


class OutboxMessage(models.Model):
    """One piece of background work that must happen: a Celery task by name with its
    arguments, written in the transaction of the change that calls for it, so the work
    is recorded exactly when the change commits, whatever the broker's state.

    ``due_at`` is when it may run (delays live here, never as broker countdowns);
    ``next_check_at`` is when the relay looks at it again: its due time while it waits to
    be dispatched, a grace period after a dispatch (a message lost with a broker restart
    is sent again), the lease's end while a worker runs it (the worker's heartbeat moves
    both forward; a dead worker's work is sent again when its lease ends).
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    # A queue other than the task's route (e.g. "interactive" for a "rebuild now").
    queue = models.CharField(max_length=50, blank=True)
    # Work with the same key coalesces with a queued one (e.g. one pending sweep).
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    # The Celery id of a message that arrived without a row (sent by beat), adopted on start.
    message_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    state = models.CharField(max_length=10, choices=OutboxState.choices, default=OutboxState.QUEUED)
    due_at = models.DateTimeField()
    next_check_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatches = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0, help_text="Executions started.")
    failures = models.PositiveIntegerField(default=0, help_text="Executions that hit an error.")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the last run.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "outbox message"
        indexes = [
            # Coalescing (``outbox.enqueue``): is work with this key queued already? Not a
            # unique index: a writer's insert would then wait for any other transaction
            # holding a queued row with the key (a long import) until it commits.
            models.Index(
                fields=["dedupe_key"],
                condition=Q(state=OutboxState.QUEUED),
                name="outbox_queued_key_idx",
            ),
            # The relay's scan, per queue: open rows by their next check, nothing else.
            models.Index(
                fields=["queue", "next_check_at"],
                condition=Q(state__in=[OutboxState.QUEUED, OutboxState.RUNNING]),
                name="outbox_open_check_idx",
            ),
            # A windowed queue's messages sent and not started yet.
            models.Index(
                fields=["queue"],
                condition=Q(state=OutboxState.QUEUED, dispatched_at__isnull=False),
                name="outbox_in_flight_idx",
            ),
            models.Index(fields=["done_at"], name="outbox_done_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk} ({self.state})"

"""CSM tasks and playbooks (DESIGN sections 4 and 5); the renewal windows, queue, forecasts
and outcomes are in ``renewal_models``, imported here.

Writes go through playbooks.services; reads through playbooks.selectors.
"""

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q

from cs_platform import clock
from customers.models import Account, Contract
from segments.models import MembershipEvent, Segment

from .renewal_models import (  # noqa: F401 (Django finds the models here)
    ChurnReason,
    Renewal,
    RenewalChange,
    RenewalChangeKind,
    RenewalForecast,
    RenewalOutcome,
    RenewalQueueBuild,
    RenewalQueueEntry,
    RenewalWindow,
)

# --- Tasks ------------------------------------------------------------------------------------


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    SNOOZED = "snoozed", "Snoozed"
    CANCELLED = "cancelled", "Cancelled"


class TaskSource(models.TextChoices):
    RENEWAL = "renewal", "Renewal window"
    PLAYBOOK = "playbook", "Playbook run"
    MANUAL = "manual", "Manual"
    REVIEW = "review", "Segment review"


class Task(models.Model):
    # FK indexes are left out where a composite index below starts with the column.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cs_tasks",
        db_index=False,
    )
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    snoozed_until = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=20, choices=TaskSource.choices, default=TaskSource.MANUAL)
    # Renewal tasks: the contract and window they were created for (one task per pair).
    # Only the renewal queue rebuild sets them, from rows it reads in the same statement;
    # they are not database constraints (Django still nulls them on delete) because the
    # deferred per-row checks cost one to two seconds of a first build's 175k tasks. The
    # unique (contract, window) index in Meta also serves lookups by contract.
    contract = models.ForeignKey(
        Contract,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tasks",
        db_index=False,
        db_constraint=False,
    )
    window = models.ForeignKey(
        RenewalWindow,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tasks",
        db_index=False,
        db_constraint=False,
    )
    # Partial index (Meta): most tasks have no run, and a bulk renewal insert then skips it.
    playbook_run = models.ForeignKey(
        "PlaybookRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tasks",
        db_index=False,
    )
    # A generic exactly-once key (e.g. "review:{segment_id}:{period}"): creating a task with
    # a key that exists returns the existing task instead. Unique among non-null keys (Meta).
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            # Only renewal tasks carry a window (the check below), so this is one renewal
            # task per (contract, window); not partial, so that it also indexes the
            # contract of every task (Django nulls it when a contract is deleted).
            models.UniqueConstraint(
                fields=["contract", "window"],
                name="task_one_renewal_per_contract_window",
                violation_error_message="This contract already has a task for this window.",
            ),
            # The overdue renewal task: one per contract (NULL windows are distinct above).
            models.UniqueConstraint(
                fields=["contract"],
                condition=Q(source="renewal", window__isnull=True, contract__isnull=False),
                name="task_one_overdue_renewal_per_contract",
                violation_error_message="This contract already has an overdue renewal task.",
            ),
            models.CheckConstraint(
                condition=Q(window__isnull=True) | Q(source="renewal"),
                name="task_window_only_on_renewal",
                violation_error_message="Only renewal tasks have a renewal window.",
            ),
            models.CheckConstraint(
                condition=~Q(status="snoozed") | Q(snoozed_until__isnull=False),
                name="task_snoozed_has_until",
            ),
            # Partial (a unique=True field would index every NULL, twice with the LIKE
            # index): renewal and manual tasks have no key, and skip it on insert.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="task_unique_dedupe_key",
            ),
        ]
        indexes = [
            models.Index(fields=["assignee", "status", "due_date"], name="task_assignee_idx"),
            models.Index(fields=["account", "status"], name="task_account_idx"),
            # Partial: the renewal tasks, most of the table, are never looked up by source
            # alone (the renewal queue finds them by contract and window), and a bulk
            # renewal insert then skips this index.
            models.Index(
                fields=["source", "status"],
                condition=~Q(source="renewal"),
                name="task_source_idx",
            ),
            models.Index(
                fields=["playbook_run"],
                condition=Q(playbook_run__isnull=False),
                name="task_playbook_run_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status in (TaskStatus.OPEN, TaskStatus.SNOOZED)

    def is_overdue(self, today: date | None = None) -> bool:
        today = today or clock.today()
        return (
            self.status == TaskStatus.OPEN and self.due_date is not None and self.due_date < today
        )


class TaskStatusChange(models.Model):
    """Who changed a task's status, when, from what to what (append-only)."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, choices=TaskStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=TaskStatus.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["task", "at"], name="task_change_task_idx")]

    def __str__(self) -> str:
        return f"{self.task_id}: {self.from_status or '-'} → {self.to_status}"


# --- Playbooks --------------------------------------------------------------------------------


class PlaybookTrigger(models.TextChoices):
    ON_ENTER = "on_enter", "When an account enters the segment"
    ON_EXIT = "on_exit", "When an account leaves the segment"


class PlaybookActivation(models.TextChoices):
    RUN_FOR_CURRENT_MEMBERS = "run_for_current_members", "Run for the current members too"
    ONLY_NEW_ENTRIES = "only_new_entries", "Only for accounts that enter from now on"


class Playbook(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="playbooks")
    trigger = models.CharField(
        max_length=20, choices=PlaybookTrigger.choices, default=PlaybookTrigger.ON_ENTER
    )
    is_active = models.BooleanField(default=False)
    stable_days = models.PositiveIntegerField(
        default=0,
        help_text="Act only once the account has stayed in (on_enter) or out (on_exit) "
        "of the segment for this many days.",
    )
    reentry_cooldown_days = models.PositiveIntegerField(
        default=0,
        help_text="Skip an account if this playbook ran for it within this many days before.",
    )
    on_activation = models.CharField(
        max_length=30,
        choices=PlaybookActivation.choices,
        default=PlaybookActivation.ONLY_NEW_ENTRIES,
    )
    # Gets the owner's tasks of accounts without an owner; a run that used it says so.
    fallback_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set each time the playbook is switched on; events before it are not acted on.
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["segment", "is_active"], name="playbook_segment_idx")]

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    CREATE_TASK = "create_task", "Create a task"
    SEND_EMAIL = "send_email", "Send an email"
    SET_LIFECYCLE_STAGE = "set_lifecycle_stage", "Set the lifecycle stage"
    WEBHOOK = "webhook", "Call a webhook"
    ASSIGN_CSM = "assign_csm", "Assign a CSM"


class PlaybookStep(models.Model):
    """One ordered step; ``config`` is validated per kind by ``steps.step_config_validate``."""

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveIntegerField(default=1)
    kind = models.CharField(max_length=30, choices=StepKind.choices)
    config = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["playbook", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "order"], name="playbook_step_unique_order")
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.get_kind_display()}"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (a step failed)"
    SKIPPED = "skipped", "Skipped"


class PlaybookRun(models.Model):
    """One execution of a playbook for one account, triggered by one membership event (or,
    with ``membership_event`` null, by the playbook's activation for the current members).
    The database makes both unique: a playbook never runs twice for the same trigger."""

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="runs")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="playbook_runs")
    membership_event = models.ForeignKey(
        MembershipEvent,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="playbook_runs",
    )
    # For activation runs: the playbook's activated_at they belong to (the second key).
    activation_at = models.DateTimeField(null=True, blank=True)
    # When the trigger happened (event time, or member's entry time for activation runs);
    # stable_days and reentry cooldown are measured from it.
    triggered_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING)
    detail = models.TextField(blank=True, help_text="Why the run was skipped, or failed.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Until when a worker (or a queued retry) answers for the run; a run still unfinished
    # after it is executed again (steps already done are not repeated).
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["playbook", "account", "membership_event"],
                condition=Q(membership_event__isnull=False),
                name="playbook_run_once_per_event",
            ),
            models.UniqueConstraint(
                fields=["playbook", "account", "activation_at"],
                condition=Q(membership_event__isnull=True),
                name="playbook_run_once_per_activation",
            ),
            models.CheckConstraint(
                condition=Q(membership_event__isnull=False) | Q(activation_at__isnull=False),
                name="playbook_run_has_trigger",
            ),
        ]
        indexes = [
            models.Index(fields=["playbook", "account", "triggered_at"], name="run_cooldown_idx"),
            models.Index(fields=["account", "-created_at"], name="run_account_idx"),
            models.Index(fields=["status"], name="run_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.playbook} for {self.account_id} ({self.status})"


class StepOutcome(models.TextChoices):
    PENDING = "pending", "Pending"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"
    RETRYING = "retrying", "Retrying"
    SKIPPED = "skipped", "Skipped"


class PlaybookStepRun(models.Model):
    """A step's outcome within a run. ``order`` and ``kind`` are copied from the step so
    the record stays readable if the playbook is edited later."""

    run = models.ForeignKey(PlaybookRun, on_delete=models.CASCADE, related_name="step_runs")
    step = models.ForeignKey(
        PlaybookStep, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    order = models.PositiveIntegerField()
    kind = models.CharField(max_length=30, choices=StepKind.choices)
    outcome = models.CharField(
        max_length=20, choices=StepOutcome.choices, default=StepOutcome.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "order"]
        constraints = [
            models.UniqueConstraint(fields=["run", "order"], name="step_run_unique_order")
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} step {self.order}: {self.outcome}"

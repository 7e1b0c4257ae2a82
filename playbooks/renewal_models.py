"""Models of renewals (DESIGN section 4): the renewal windows, the queue and its builds, and
a renewal's forecast and outcome (one ``Renewal`` row per contract that someone forecast
or closed, its append-only history, and the churn reasons managers keep). Imported by
``playbooks.models`` so Django finds them; the forecast and outcome writes live in
``playbooks.services.forecasts``.

The renewal queue's entries are derived data, rebuilt from contracts; what a person
decides about a renewal is not, so it lives here, keyed by the contract."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from cs_platform import clock
from customers.models import MONEY, Account, Contract

# --- Renewals ---------------------------------------------------------------------------------


class RenewalWindow(models.Model):
    """A renewal window T-N: a contract is inside it when 0 <= end_date - today <= N."""

    days = models.PositiveIntegerField(unique=True, help_text="N of T-N: days before end_date.")
    name = models.CharField(max_length=50, blank=True, help_text='Defaults to "T-N".')
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-days"]

    def __str__(self) -> str:
        return self.name or f"T-{self.days}"


class RenewalQueueEntry(models.Model):
    """One active contract inside one renewal window (``window`` set), or one active contract
    whose end_date has passed (``window`` null, ``overdue`` true).

    Rows are maintained only by ``services.renewal_queue_rebuild`` (set-based diff). Days
    left are not stored, so a new day does not rewrite every row: ``days_left`` is derived
    from ``renewal_date`` and today (``selectors.renewal_queue_list`` annotates it in SQL).

    The table is derived data, rebuilt from contracts and accounts, so none of its foreign
    keys is a database constraint (Django still cascades / nulls them on delete): each one
    costs a deferred per-row trigger check at commit (a query, and for ``contract`` a row
    lock) on every insert, one to two seconds of a million-contract first build. Entries
    left behind by a raw delete of their contract are removed by the next full diff (at
    least weekly), which drops entries whose contract is gone.
    """

    # Single-column FK indexes are left out where a composite index below starts with the
    # column: fewer indexes keep the full build of a million-contract queue fast.
    contract = models.ForeignKey(
        Contract,
        on_delete=models.CASCADE,
        related_name="renewal_entries",
        db_index=False,
        db_constraint=False,
    )
    # A copy of the contract's account, for reads. Not indexed (entries are looked up by
    # account through their contracts) and nothing to do on delete: deleting an account
    # deletes its contracts, whose entries go with them (by the contract index).
    account = models.ForeignKey(
        Account,
        on_delete=models.DO_NOTHING,
        related_name="renewal_entries",
        db_index=False,
        db_constraint=False,
    )
    window = models.ForeignKey(
        RenewalWindow,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="entries",
        db_index=False,
        db_constraint=False,
    )
    csm = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="renewal_entries",
        db_index=False,
        db_constraint=False,
        help_text="The account's owner CSM when the entry was last computed.",
    )
    arr = models.DecimalField(**MONEY)
    renewal_date = models.DateField()
    overdue = models.BooleanField(default=False)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["renewal_date", "contract_id", "window_id"]
        verbose_name_plural = "renewal queue entries"
        constraints = [
            # NULL windows are distinct here, so overdue rows need the second constraint.
            models.UniqueConstraint(
                fields=["contract", "window"], name="renewal_entry_unique_contract_window"
            ),
            models.UniqueConstraint(
                fields=["contract"],
                condition=Q(window__isnull=True),
                name="renewal_entry_unique_overdue_contract",
            ),
            models.CheckConstraint(
                condition=Q(window__isnull=True, overdue=True)
                | Q(window__isnull=False, overdue=False),
                name="renewal_entry_overdue_iff_no_window",
            ),
        ]
        indexes = [
            models.Index(fields=["csm", "renewal_date"], name="renewal_entry_csm_idx"),
            models.Index(fields=["window", "renewal_date"], name="renewal_entry_window_idx"),
        ]

    def __str__(self) -> str:
        where = "overdue" if self.window_id is None else f"window {self.window_id}"
        return f"contract {self.contract_id} ({where})"

    @property
    def days_left(self) -> int:
        """``renewal_date - today`` (negative when overdue); set by the selector's
        annotation when the row was read through it."""
        annotated = self.__dict__.get("_days_left")
        if annotated is not None:
            return annotated
        return (self.renewal_date - clock.today()).days

    @days_left.setter
    def days_left(self, value: int) -> None:
        self.__dict__["_days_left"] = value


class RenewalQueueBuild(models.Model):
    """One run of the renewal queue rebuild: what it did and how long it took. The latest
    row also tells the next run where the previous one left off (its ``built_for`` day and
    ``started_at`` time), which is what makes the daily rebuild a small delta."""

    built_for = models.DateField(help_text="The day the queue was built for.")
    full = models.BooleanField(default=False)
    windows = models.CharField(
        max_length=200, blank=True, help_text="Active window days at build time, e.g. 120,90."
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    inserted = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    tasks_created = models.PositiveIntegerField(default=0)
    tasks_reassigned = models.PositiveIntegerField(default=0)
    tasks_closed = models.PositiveIntegerField(
        default=0, help_text="Open renewal tasks closed because a tighter window's replaced them."
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"renewal queue for {self.built_for} ({'full' if self.full else 'delta'})"


class RenewalForecast(models.TextChoices):
    COMMIT = "commit", "Commit"
    LIKELY = "likely", "Likely"
    AT_RISK = "at_risk", "At risk"
    CHURN = "churn", "Churn"


class RenewalOutcome(models.TextChoices):
    RENEWED = "renewed", "Renewed"
    DOWNGRADED = "downgraded", "Downgraded"
    CHURNED = "churned", "Churned"


class ChurnReason(models.Model):
    """Why a customer left: a list managers edit (admin and API). A reason in use is
    switched off rather than deleted, so closed renewals keep theirs."""

    name = models.CharField(max_length=100, unique=True)
    order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class Renewal(models.Model):
    """The owner's forecast for one contract's renewal and, once closed, its outcome.

    ``renewed`` and ``downgraded`` link the contract that follows (created or picked);
    ``churned`` names a reason. A closed renewal's contract is no longer active, so it
    leaves the queue at the next build (queued at once by the close)."""

    contract = models.OneToOneField(Contract, on_delete=models.CASCADE, related_name="renewal")
    forecast = models.CharField(max_length=20, choices=RenewalForecast.choices, blank=True)
    expected_arr = models.DecimalField(
        **MONEY, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )
    forecast_note = models.TextField(blank=True)
    forecast_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    forecast_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=RenewalOutcome.choices, blank=True)
    churn_reason = models.ForeignKey(
        ChurnReason, on_delete=models.PROTECT, null=True, blank=True, related_name="renewals"
    )
    new_contract = models.ForeignKey(
        Contract,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="renewed_from",
        help_text="Renewed or downgraded: the contract that follows this one.",
    )
    outcome_arr = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="ARR after the renewal (0 when churned)."
    )
    outcome_note = models.TextField(blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(forecast="") | Q(expected_arr__isnull=False),
                name="renewal_forecast_has_expected_arr",
            ),
            models.CheckConstraint(
                condition=~Q(outcome="churned") | Q(churn_reason__isnull=False),
                name="renewal_churn_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(outcome="") | Q(closed_at__isnull=False),
                name="renewal_outcome_has_closed_at",
            ),
        ]
        indexes = [
            models.Index(fields=["outcome", "closed_at"], name="renewal_outcome_idx"),
        ]

    def __str__(self) -> str:
        return f"renewal of contract {self.contract_id}"

    @property
    def is_closed(self) -> bool:
        return bool(self.outcome)


class RenewalChangeKind(models.TextChoices):
    FORECAST = "forecast", "Forecast"
    OUTCOME = "outcome", "Outcome"


class RenewalChange(models.Model):
    """Who set which forecast or outcome, when (append-only; the account's timeline)."""

    renewal = models.ForeignKey(Renewal, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=20, choices=RenewalChangeKind.choices)
    forecast = models.CharField(max_length=20, choices=RenewalForecast.choices, blank=True)
    outcome = models.CharField(max_length=20, choices=RenewalOutcome.choices, blank=True)
    arr = models.DecimalField(**MONEY, null=True, blank=True)
    note = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["renewal", "at"], name="renewal_change_idx")]

    def __str__(self) -> str:
        return f"{self.renewal_id}: {self.kind} {self.forecast or self.outcome}"

"""Health scores (DESIGN 12, docs/health.md): scorecards and their measures, the scores CSMs
enter by hand, each account's current health and its history.

The current health of an account (``AccountHealth``) is written only by the health engine
(``health.engine``), set-based; ``HealthHistory`` gets a row only when an account's
scorecard, score, status or a measure score changes, so "the score as of D" is the last
history row on or before D.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from cs_platform.db import IntegerListField
from customers.models import Account
from segments.models import Segment

SCORE_MAX = 100
MEASURE_KEY_PATTERN = r"\A[a-z][a-z0-9_]{0,49}\Z"
WEIGHT = {"max_digits": 8, "decimal_places": 2}
BOUND = {"max_digits": 20, "decimal_places": 6}
DEFAULT_RED_BELOW = 40
DEFAULT_GREEN_FROM = 70
DEFAULT_VALID_DAYS = 90
DEFAULT_PRIORITY = 100


class HealthStatus(models.TextChoices):
    RED = "red", "Red"
    YELLOW = "yellow", "Yellow"
    GREEN = "green", "Green"


class MeasureSource(models.TextChoices):
    FIELD = "field", "A numeric rule field"
    CONDITION = "condition", "A rule (100 when it matches, 0 when not)"
    MANUAL = "manual", "A score a CSM enters"


class Scorecard(models.Model):
    """Which accounts it scores (``segment``; null: every account no other scorecard
    takes), in which order (``priority``, lowest first; the default comes last), its
    thresholds, and a ``draft``: a pending definition (the API's shape, validated) that
    can be previewed and backtested before it is published."""

    name = models.CharField(max_length=200, unique=True)
    segment = models.ForeignKey(
        Segment, on_delete=models.PROTECT, null=True, blank=True, related_name="scorecards"
    )
    priority = models.PositiveIntegerField(default=DEFAULT_PRIORITY)
    red_below = models.PositiveSmallIntegerField(
        default=DEFAULT_RED_BELOW, validators=[MaxValueValidator(SCORE_MAX)]
    )
    green_from = models.PositiveSmallIntegerField(
        default=DEFAULT_GREEN_FROM, validators=[MaxValueValidator(SCORE_MAX)]
    )
    draft = models.JSONField(null=True, blank=True, editable=False)
    draft_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The version of the scoring definition (thresholds, measures, weights) in force now.
    current_version = models.ForeignKey(
        "ScorecardVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            # One scorecard per segment, and one default (segment null counts as 0).
            models.UniqueConstraint(
                Coalesce(F("segment"), Value(0)), name="scorecard_one_per_segment"
            ),
            models.CheckConstraint(
                condition=Q(red_below__lte=F("green_from")), name="scorecard_thresholds_ordered"
            ),
            models.CheckConstraint(
                condition=Q(green_from__lte=SCORE_MAX), name="scorecard_green_from_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ScorecardVersion(models.Model):
    """A scorecard's scoring definition as it was published: its thresholds and measures
    with their weights (``definition``: ``{"red_below", "green_from", "measures": [the
    API's measure objects]}``). Written when a scorecard is created or its thresholds or
    measures change (never changed afterwards); the health rows a run writes point at the
    version that produced them, so a past score is explained with the weights in force
    then. Kept, with the scorecard's id and name, after the scorecard is deleted."""

    scorecard = models.ForeignKey(
        Scorecard,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="versions",
    )
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    definition = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        # By the id: ordering by the scorecard would join it, hiding a deleted one's.
        ordering = ["scorecard_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["scorecard", "number"], name="scorecard_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"


class Measure(models.Model):
    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="measures")
    key = models.CharField(
        max_length=50, validators=[RegexValidator(MEASURE_KEY_PATTERN, "a-z, 0-9 and _")]
    )
    label = models.CharField(max_length=200)
    weight = models.DecimalField(**WEIGHT, validators=[MinValueValidator(Decimal("0.01"))])
    source = models.CharField(max_length=20, choices=MeasureSource.choices)
    field = models.CharField(max_length=200, blank=True, default="")
    bad = models.DecimalField(**BOUND, null=True, blank=True)
    good = models.DecimalField(**BOUND, null=True, blank=True)
    rule = models.JSONField(null=True, blank=True)
    valid_days = models.PositiveIntegerField(
        default=DEFAULT_VALID_DAYS, validators=[MinValueValidator(1)]
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["scorecard", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["scorecard", "key"], name="measure_key_per_scorecard"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="measure_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.scorecard_id}:{self.key}"


class ManualEntry(models.Model):
    """A score a CSM entered for one account and one manual measure. It counts on the days
    ``entered_on`` … ``entered_on + valid_days - 1``; the latest entry wins."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="health_entries")
    measure = models.ForeignKey(Measure, on_delete=models.CASCADE, related_name="entries")
    score = models.PositiveSmallIntegerField(validators=[MaxValueValidator(SCORE_MAX)])
    comment = models.TextField(blank=True, default="")
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    entered_at = models.DateTimeField()
    entered_on = models.DateField()

    class Meta:
        ordering = ["-entered_on", "-entered_at", "-id"]
        indexes = [models.Index(fields=["measure", "account", "entered_on"])]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=SCORE_MAX), name="manual_score_range")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.measure_id}: {self.score}"


class AccountHealth(models.Model):
    """An account's current health, as the last run computed it. ``measures`` maps each
    present measure's key to its score (0–100, two decimals); absent measures are left
    out."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    scorecard = models.ForeignKey(
        Scorecard, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=HealthStatus.choices, null=True, blank=True)
    measures = models.JSONField(default=dict)
    # ``measures`` in a form that is cheap to compare: the measure scores in hundredths, in
    # the order of their keys, NULL for an absent one (``health.engine.targets``; the keys
    # are those of ``version``). A run compares this, and builds the JSON only for the
    # accounts whose health changed. Null: not written yet (rows of before it), which makes
    # a run compare the JSON once and fill it in.
    measures_digest = IntegerListField(null=True, blank=True, editable=False)
    version = models.ForeignKey(
        ScorecardVersion,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    day = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["status"]), models.Index(fields=["score"])]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.score} {self.status}"


class HealthHistory(models.Model):
    """One row each time an account's scorecard (or its version), score, status or a
    measure score changed: the values from ``day`` until the next row. ``scorecard`` and
    ``version`` keep the ids of the scorecard and of the version of its definition that
    produced them even after it is deleted (no database constraint)."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="health_history", db_index=False
    )
    day = models.DateField()
    at = models.DateTimeField()
    scorecard = models.ForeignKey(
        Scorecard,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    # The version of that scorecard's definition (null: rows of a scorecard deleted
    # before versions were kept).
    version = models.ForeignKey(
        ScorecardVersion,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=HealthStatus.choices, null=True, blank=True)
    measures = models.JSONField(default=dict)

    class Meta:
        ordering = ["account", "day", "id"]
        indexes = [
            models.Index(fields=["account", "day", "id"], name="health_history_as_of"),
            models.Index(fields=["day"], name="health_history_day"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}: {self.score}"

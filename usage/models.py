"""Product usage: the metrics a customer's product reports, one value per account, metric
and day, the record of event batches already applied, and the per-account window values
the rule fields read (``UsageFeatures``, kept by ``usage.features``; docs/usage.md)."""

from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

# Daily values: counts and gauges up to 10^14 with four decimal places (an average or a
# fractional gauge); Decimal end to end, like money.
USAGE_VALUE = {"max_digits": 18, "decimal_places": 4}

METRIC_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"


class MetricKind(models.TextChoices):
    COUNT = "count", "Count (a day's value is the total of its events)"
    GAUGE = "gauge", "Gauge (a day's value is a level; the last value sent wins)"


class UsageMetric(models.Model):
    key = models.CharField(
        max_length=50,
        unique=True,
        validators=[
            RegexValidator(
                METRIC_KEY_PATTERN,
                "A lowercase slug: letters, digits and underscores, starting with a letter.",
            )
        ],
    )
    label = models.CharField(max_length=100)
    unit = models.CharField(max_length=30, blank=True, default="")
    kind = models.CharField(max_length=5, choices=MetricKind.choices, default=MetricKind.COUNT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.label or self.key


class DailyUsage(models.Model):
    """One account's value of one metric on one day (a day without a row counts as 0).

    Keyed (metric, day, account): a day's batch for every account lands at the end of
    each metric's key range (a few index pages, not one per account), and the day-change
    slide reads the days entering and leaving the windows as ranges of that key. The index
    on ``account`` (compact: one posting list per account) serves an account's own rows
    (explain, the account page) and deleting an account.

    No foreign-key constraints in the database (``db_constraint=False``): checking one per
    inserted row cost more than writing the row. Ingestion only writes accounts and
    metrics it has just looked up, under the usage writers' lock that deleting an account
    also takes (``usage.receivers``), and deleting an account or a metric deletes its rows
    (Django's cascade).
    """

    pk = models.CompositePrimaryKey("metric", "day", "account")
    account = models.ForeignKey(
        "customers.Account",
        on_delete=models.CASCADE,
        # The rule fields join an account's row of today (``usage.rule_fields``).
        related_name="usage_daily",
        db_index=False,
        db_constraint=False,
    )
    metric = models.ForeignKey(
        UsageMetric,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    day = models.DateField()
    value = models.DecimalField(**USAGE_VALUE, validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="daily_usage_value_non_negative")
        ]
        indexes = [models.Index(fields=["account"], name="usage_daily_account")]

    def __str__(self) -> str:
        return f"{self.metric_id}/{self.account_id}/{self.day}: {self.value}"


class UsageEventBatch(models.Model):
    """An applied batch of events, by its Idempotency-Key: a replay adds nothing."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    accepted = models.PositiveIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.accepted} events)"


# The rule windows (``usage.windows.WINDOWS``), repeated here so that the models module
# stands alone; ``usage.features`` checks that both agree.
FEATURE_WINDOWS = (7, 14, 30, 60, 90)
# A sum of 90 daily values: 2 more digits than a day's value.
FEATURE_SUM = {"max_digits": 20, "decimal_places": 4}


class UsageFeatureState(models.Model):
    """The day a metric's ``UsageFeatures`` rows are computed for ("as of").

    The rule fields read the features only when ``as_of`` is the day they are asked for
    (checked inside the very statement that reads them); otherwise (the day changed and
    the day-change job has not slid them yet, or they were never built) they compute the
    windows from the daily table. No row, or a null ``as_of``: never built.
    """

    metric = models.OneToOneField(
        UsageMetric, on_delete=models.CASCADE, primary_key=True, related_name="feature_state"
    )
    as_of = models.DateField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.metric_id} as of {self.as_of}"


class UsageFeatures(models.Model):
    """One account's window values of one metric as of ``UsageFeatureState.as_of``: for
    each window N (``FEATURE_WINDOWS``) the sum, the sum of the N days before the window
    (``prev``: ``change_Nd``), the largest day and the active days, and the last active
    day. What the rule fields ``usage.KEY.*`` read instead of aggregating the daily table
    (``usage.features`` keeps it; docs/usage.md, "How the windows are stored").

    A row exists for every (account, metric) with at least one daily row once the metric's
    features are built; an account without a row has zeros and no last active day.

    Keyed (metric, account): the slide and a rebuild work on one metric's rows, a rule
    joins one metric's rows to the accounts; the index on ``account`` serves deleting an
    account. Every day updates most rows without touching a key column, so the table
    leaves room on its pages for PostgreSQL to update them in place (fillfactor 50,
    migration 0003).
    """

    pk = models.CompositePrimaryKey("metric", "account")
    account = models.ForeignKey(
        "customers.Account",
        on_delete=models.CASCADE,
        related_name="usage_features",
        db_index=False,
    )
    metric = models.ForeignKey(
        UsageMetric, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    last_active = models.DateField(null=True)

    class Meta:
        indexes = [models.Index(fields=["account"], name="usage_features_account")]

    def __str__(self) -> str:
        return f"{self.metric_id}/{self.account_id}"


def _add_window_columns(model: type[models.Model]) -> None:
    """The columns of each window N: ``sum_Nd``, ``prev_Nd``, ``max_Nd``, ``days_Nd`` and
    ``maxday_Nd``, the latest day of the window holding its largest value (null when that
    is 0): the slide looks the largest value up again only when that day leaves."""
    for days in FEATURE_WINDOWS:
        model.add_to_class(f"sum_{days}d", models.DecimalField(**FEATURE_SUM, db_default=0))
        model.add_to_class(f"prev_{days}d", models.DecimalField(**FEATURE_SUM, db_default=0))
        model.add_to_class(f"max_{days}d", models.DecimalField(**USAGE_VALUE, db_default=0))
        model.add_to_class(f"maxday_{days}d", models.DateField(null=True))
        model.add_to_class(f"days_{days}d", models.SmallIntegerField(db_default=0))


_add_window_columns(UsageFeatures)

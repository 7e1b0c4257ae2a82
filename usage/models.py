"""Product usage: the metrics a customer's product reports, one value per account, metric
and day, and the record of event batches already applied (docs/usage.md)."""

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

    Keyed (account, metric, day) and nothing else: the rule fields read one metric's recent
    days of an account (a range scan of this key), a re-sent day replaces its row in place,
    and deleting an account finds its rows by the key's leading column. No second index,
    so ingestion maintains one B-tree.
    """

    pk = models.CompositePrimaryKey("account", "metric", "day")
    account = models.ForeignKey(
        "customers.Account", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    metric = models.ForeignKey(
        UsageMetric, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    day = models.DateField()
    value = models.DecimalField(**USAGE_VALUE, validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="daily_usage_value_non_negative")
        ]

    def __str__(self) -> str:
        return f"{self.metric_id}/{self.account_id}/{self.day}: {self.value}"


class UsageEventBatch(models.Model):
    """An applied batch of events, by its Idempotency-Key: a replay adds nothing."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    accepted = models.PositiveIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.accepted} events)"

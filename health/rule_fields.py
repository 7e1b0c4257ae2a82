"""The ``health.`` rule fields (DESIGN 12): ``health.score`` (integer), ``health.status``
(choice: red, yellow, green), ``health.change_30d`` (integer: today's score − the score 30
days ago, from the history; null without history) and ``health.MEASURE_KEY`` (number: that
measure's score, 0–100, for any measure key of a stored scorecard).

One family answers for the namespace (the registry allows no single field inside a
family's prefix); it is on demand because measure keys are read from the measures table.
Registered by ``HealthConfig.ready()``; see docs/rule-fields.md.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import DecimalField, F, IntegerField, OuterRef, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from rules import Column, Computed, RuleField, register_family
from rules.registry import AttributeSpec
from rules.vocabulary import CHOICE, INTEGER, NUMBER

from .models import AccountHealth, HealthHistory, HealthStatus, Measure

PREFIX = "health."
APP = "health"
SCORE, STATUS, CHANGE_30D = "score", "status", "change_30d"
RESERVED_KEYS = (SCORE, STATUS, CHANGE_30D)
CHANGE_DAYS = 30
_MEASURE_SCORE = DecimalField(max_digits=5, decimal_places=2)


def _current(account: object) -> AccountHealth | None:
    return getattr(account, "health", None)


# --- health.change_30d ------------------------------------------------------------------


def score_as_of_expression(day: date) -> Subquery:
    """Per account row: the score of its last history row on or before ``day``."""
    rows = HealthHistory.objects.filter(account_id=OuterRef("pk"), day__lte=day).order_by(
        "-day", "-id"
    )
    return Subquery(rows.values("score")[:1], output_field=IntegerField())


def _change_expression(today: date):
    return F("health__score") - score_as_of_expression(today - timedelta(days=CHANGE_DAYS))


def _change_read(account: object, today: date) -> int | None:
    current = _current(account)
    if current is None or current.score is None:
        return None
    before = (
        HealthHistory.objects.filter(
            account_id=account.pk, day__lte=today - timedelta(days=CHANGE_DAYS)
        )
        .order_by("-day", "-id")
        .values_list("score", flat=True)
        .first()
    )
    return None if before is None else current.score - before


# --- health.MEASURE_KEY -----------------------------------------------------------------


def _measure_expression(key: str):
    def expression(today: date) -> Subquery:
        rows = AccountHealth.objects.filter(account_id=OuterRef("pk")).annotate(
            value=Cast(KT(f"measures__{key}"), _MEASURE_SCORE)
        )
        return Subquery(rows.values("value")[:1], output_field=_MEASURE_SCORE)

    return expression


def _measure_read(key: str):
    def read(account: object, today: date) -> Decimal | None:
        current = _current(account)
        value = (current.measures or {}).get(key) if current is not None else None
        return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))

    return read


# --- the family -------------------------------------------------------------------------

SCORE_FIELD = RuleField(
    PREFIX + SCORE, INTEGER, Column("health__score"), label="Health: score", app=APP
)
STATUS_FIELD = RuleField(
    PREFIX + STATUS,
    CHOICE,
    Column("health__status"),
    label="Health: status",
    choices=tuple(HealthStatus.values),
    app=APP,
)
CHANGE_FIELD = RuleField(
    PREFIX + CHANGE_30D,
    INTEGER,
    Computed("rule_health_change_30d", _change_expression, _change_read),
    label="Health: change over 30 days",
    rankable=True,
    app=APP,
)
FIXED = {SCORE: SCORE_FIELD, STATUS: STATUS_FIELD, CHANGE_30D: CHANGE_FIELD}


def measure_field(key: str, label: str = "") -> RuleField:
    return RuleField(
        PREFIX + key,
        NUMBER,
        Computed(f"rule_health_m_{key}", _measure_expression(key), _measure_read(key)),
        label=f"Health measure: {label or key}",
        rankable=True,
        app=APP,
    )


@dataclass(frozen=True)
class HealthFamily:
    prefix: str = PREFIX
    unknown_message: str = "unknown health field (score, status, change_30d or a measure key)"
    app: str = APP
    on_demand: bool = True

    def resolve(self, key: str, attributes: Mapping[str, AttributeSpec]) -> RuleField | None:
        if key in FIXED:
            return FIXED[key]
        measure = Measure.objects.filter(key=key).order_by("pk").first()
        return None if measure is None else measure_field(key, measure.label)

    def fields(self, attributes: Mapping[str, AttributeSpec]) -> Iterable[RuleField]:
        yield from FIXED.values()
        labels: dict[str, str] = {}
        for key, label in Measure.objects.order_by("key", "pk").values_list("key", "label"):
            labels.setdefault(key, label)
        for key, label in labels.items():
            yield measure_field(key, label)


HEALTH = HealthFamily()


def register_rule_fields() -> None:
    """Register the ``health.`` family."""
    register_family(HEALTH)

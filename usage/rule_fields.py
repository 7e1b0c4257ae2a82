"""The ``usage.`` rule field family (DESIGN 11, docs/usage.md): ``usage.KEY.sum_Nd``,
``avg_Nd``, ``max_Nd``, ``days_active_Nd``, ``change_Nd`` (N in 7, 14, 30, 60, 90) and
``usage.KEY.last_active``, resolved when a rule is checked from the metrics table (an
unknown metric or window is a validation error naming the path).

Each field is a ``Computed`` source. In SQL (the compiler and ranking) it reads the
account's row of the window values (``UsageFeatures``, one primary-key lookup) when the
metric's features are as of the rule's day, and otherwise aggregates the daily table (a
range scan of its (account, metric, day) key); the check is part of the statement (an
uncorrelated subquery, evaluated once), so a statement never mixes stale window values
with fresh ones, whatever commits meanwhile. In Python (the evaluator and explain) the
same value is computed from the daily rows (``windows``).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DateField,
    DecimalField,
    ExpressionWrapper,
    F,
    FilteredRelation,
    FloatField,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Greatest, NullIf
from django.db.models.lookups import Exact, GreaterThan

from rules import Computed, RuleField, register_family
from rules.registry import AttributeSpec
from rules.vocabulary import DATE, INTEGER, NUMBER

from . import windows
from .models import USAGE_VALUE, DailyUsage, UsageFeatures, UsageFeatureState, UsageMetric

PREFIX = "usage."
APP = "usage"
FIELD_NAME = re.compile(
    r"\A(?P<key>[a-z][a-z0-9_]{0,49})\.(?:(?P<kind>sum|avg|max|days_active|change)_(?P<days>\d+)d"
    r"|(?P<last>last_active))\Z"
)
# Wide enough for a sum of 90 daily values and for a percentage with a fraction.
_NUMBER = DecimalField(max_digits=30, decimal_places=10)
_ZERO = Value(Decimal(0), output_field=DecimalField(**USAGE_VALUE))

_LABELS = {
    "sum": "sum over {n} days",
    "avg": "daily average over {n} days",
    "max": "highest day in {n} days",
    "days_active": "active days in {n} days",
    "change": "% change over {n} days",
}


class Quotient(Func):
    """``numerator / denominator`` as a decimal. SQLite stores whole decimals as integers
    and would divide them as integers (3 / 14 = 0), so there the numerator is made real
    first, and the result keeps numeric affinity (Django's per-vendor ``as_sqlite`` hook)."""

    arg_joiner = " / "
    template = "(%(expressions)s)"
    output_field = _NUMBER

    def as_sqlite(self, compiler, connection, **extra_context):
        numerator, denominator = self.get_source_expressions()
        clone = self.copy()
        clone.set_source_expressions([Cast(numerator, FloatField()), denominator])
        # CAST ... AS NUMERIC gives the result numeric affinity, so a compared value bound
        # as text is compared as a number.
        return super(Quotient, clone).as_sql(
            compiler, connection, template="CAST((%(expressions)s) AS NUMERIC)", **extra_context
        )


def _days(metric_id: int, first: date, last: date):
    return DailyUsage.objects.filter(
        account=OuterRef("pk"), metric_id=metric_id, day__gte=first, day__lte=last
    ).order_by()


def _aggregate(queryset, expression, output_field) -> Subquery:
    """One value per outer account: the aggregate over its rows (NULL when none)."""
    grouped = queryset.values("account").annotate(result=expression).values("result")
    return Subquery(grouped, output_field=output_field)


def _daily_window(metric_id: int, kind: str, days: int, today: date):
    """``usage.KEY.<kind>_<days>d`` aggregated from the daily table (features not current)."""
    first = windows.window_start(today, days)
    if kind == "change":
        previous_first = first - timedelta(days=days)
        current = Coalesce(Sum("value", filter=Q(day__gte=first)), _ZERO)
        previous = Sum("value", filter=Q(day__lt=first))
        change = Quotient((current - previous) * Value(Decimal(100)), NullIf(previous, _ZERO))
        return _aggregate(_days(metric_id, previous_first, today), change, _NUMBER)
    rows = _days(metric_id, first, today)
    if kind == "days_active":
        active = Count("day", filter=Q(value__gt=0))
        return Coalesce(_aggregate(rows, active, IntegerField()), Value(0))
    if kind == "max":
        return Coalesce(_aggregate(rows, Max("value"), _NUMBER), _ZERO, output_field=_NUMBER)
    total = Coalesce(_aggregate(rows, Sum("value"), _NUMBER), _ZERO, output_field=_NUMBER)
    if kind == "avg":
        return Quotient(total, Value(Decimal(days), output_field=_NUMBER))
    return total


def _feature(metric_id: int, value, output_field) -> Subquery:
    """``value`` (an expression of the features row's columns) of the outer account's
    features row of the metric: one primary-key lookup; NULL without a row."""
    row = UsageFeatures.objects.filter(account_id=OuterRef("pk"), metric_id=metric_id)
    return Subquery(
        row.order_by().annotate(result=value).values("result"), output_field=output_field
    )


def _today_value(metric_id: int, today: date) -> Subquery:
    """The outer account's daily value of the metric on ``today`` (NULL without a row):
    one lookup of the daily table's key."""
    row = DailyUsage.objects.filter(account_id=OuterRef("pk"), metric_id=metric_id, day=today)
    return Subquery(row.order_by().values("value")[:1], output_field=DecimalField(**USAGE_VALUE))


def features_relation(metric_id: int) -> tuple[str, FilteredRelation]:
    """The account's features row of the metric as a LEFT OUTER JOIN (at most one row:
    the (account, metric) key), under an alias of its own."""
    relation = FilteredRelation("usage_features", condition=Q(usage_features__metric_id=metric_id))
    return f"rule_usage_features_{metric_id}", relation


def today_relation(metric_id: int, today: date) -> tuple[str, FilteredRelation]:
    """The account's daily row of the metric on ``today`` as a LEFT OUTER JOIN (at most
    one row: the (metric, day, account) key), under an alias of its own."""
    relation = FilteredRelation(
        "usage_daily", condition=Q(usage_daily__metric_id=metric_id, usage_daily__day=today)
    )
    return f"rule_usage_today_{metric_id}", relation


def _window_value(kind: str, days: int, column, today_value, output):
    """``usage.KEY.<kind>_<days>d`` from a features row's columns (``column(name)``: the
    window's days before today, NULL without a row) and today's daily value
    (``today_value``, NULL without a row): each window is its stored days plus today. No
    data: 0 (the empty window), except change (null); avg = sum ÷ N."""
    todays = Coalesce(today_value, _ZERO, output_field=_NUMBER)
    if kind == "days_active":
        active_today = Case(
            When(GreaterThan(todays, _ZERO), then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        )
        stored = Coalesce(column(f"days_{days}d"), Value(0), output_field=IntegerField())
        return ExpressionWrapper(stored + active_today, output_field=IntegerField())
    if kind == "max":
        stored = Coalesce(column(f"max_{days}d"), _ZERO, output_field=_NUMBER)
        return Greatest(stored, todays, output_field=_NUMBER)
    total = ExpressionWrapper(
        Coalesce(column(f"sum_{days}d"), _ZERO, output_field=_NUMBER) + todays,
        output_field=_NUMBER,
    )
    if kind == "change":
        previous = column(f"prev_{days}d")
        return Quotient((total - previous) * Value(Decimal(100)), NullIf(previous, _ZERO))
    if kind == "avg":
        return Quotient(total, Value(Decimal(days), output_field=_NUMBER))
    return total


def _last_active_value(column, today_value, today: date):
    """Today when today's value is above 0, else the features row's last active day."""
    return Case(
        When(
            GreaterThan(Coalesce(today_value, _ZERO, output_field=_NUMBER), _ZERO),
            then=Value(today, output_field=DateField()),
        ),
        default=column("last_active"),
        output_field=DateField(),
    )


def _output(kind: str):
    return IntegerField() if kind == "days_active" else _NUMBER


def features_current(metric_id: int, today: date) -> Exact:
    """True when the metric's window values are as of ``today`` (false when never built):
    an uncorrelated subquery, so evaluated once per statement, in its snapshot."""
    as_of = UsageFeatureState.objects.filter(metric_id=metric_id).values("as_of")
    return Exact(Subquery(as_of, output_field=DateField()), Value(today, DateField()))


def _current_or_daily(metric_id: int, today: date, from_features, from_daily, output):
    return Case(
        When(features_current(metric_id, today), then=from_features),
        default=from_daily,
        output_field=output,
    )


def _column_lookup(metric_id: int, output_fields: Mapping[str, object]):
    def column(name: str) -> Subquery:
        return _feature(metric_id, F(name), output_fields[name])

    return column


_COLUMN_FIELDS = {
    **{f"{stat}_{n}d": _NUMBER for stat in ("sum", "prev", "max") for n in windows.WINDOWS},
    **{f"days_{n}d": IntegerField() for n in windows.WINDOWS},
    "last_active": DateField(),
}


def window_expression(metric_id: int, kind: str, days: int, today: date):
    """The SQL value of ``usage.KEY.<kind>_<days>d`` for each account row, on its own (a
    lookup of the account's features row per column read and of today's daily row;
    ranking, ordering)."""
    column = _column_lookup(metric_id, _COLUMN_FIELDS)
    return _current_or_daily(
        metric_id,
        today,
        _window_value(kind, days, column, _today_value(metric_id, today), _output(kind)),
        _daily_window(metric_id, kind, days, today),
        _output(kind),
    )


def window_joined(metric_id: int, kind: str, days: int, today: date):
    """The value of ``usage.KEY.<kind>_<days>d`` read through the joins of the account's
    features row (``features_relation``) and today's daily row (``today_relation``): what
    rules compile to, two joins per metric whatever the number of its fields a statement
    reads."""
    alias, relation = features_relation(metric_id)
    today_alias, todays = today_relation(metric_id, today)
    expression = _current_or_daily(
        metric_id,
        today,
        _window_value(
            kind,
            days,
            lambda column: F(f"{alias}__{column}"),
            F(f"{today_alias}__value"),
            _output(kind),
        ),
        _daily_window(metric_id, kind, days, today),
        _output(kind),
    )
    return {alias: relation, today_alias: todays}, expression


def _daily_last_active(metric_id: int, today: date) -> Subquery:
    rows = DailyUsage.objects.filter(
        account=OuterRef("pk"), metric_id=metric_id, day__lte=today, value__gt=0
    ).order_by("-day")
    return Subquery(rows.values("day")[:1], output_field=DateField())


def last_active_expression(metric_id: int, today: date):
    return _current_or_daily(
        metric_id,
        today,
        _last_active_value(
            _column_lookup(metric_id, _COLUMN_FIELDS), _today_value(metric_id, today), today
        ),
        _daily_last_active(metric_id, today),
        DateField(),
    )


def last_active_joined(metric_id: int, today: date):
    alias, relation = features_relation(metric_id)
    today_alias, todays = today_relation(metric_id, today)
    expression = _current_or_daily(
        metric_id,
        today,
        _last_active_value(
            lambda column: F(f"{alias}__{column}"), F(f"{today_alias}__value"), today
        ),
        _daily_last_active(metric_id, today),
        DateField(),
    )
    return {alias: relation, today_alias: todays}, expression


# --- the evaluator's side: one query per account for every metric ------------------------

_CACHE = "_usage_series_by_today"


def account_series(account: object, today: date) -> dict[int, dict[date, Decimal]]:
    """The account's daily values of every metric in the days the windows read, loaded once
    per account object and day (explain and preview read many fields of one account)."""
    cache = account.__dict__.setdefault(_CACHE, {})
    if today not in cache:
        series: dict[int, dict[date, Decimal]] = {}
        rows = DailyUsage.objects.filter(
            account_id=account.pk,
            day__gt=today - timedelta(days=windows.MAX_DAYS_READ),
            day__lte=today,
        ).values_list("metric_id", "day", "value")
        for metric_id, day, value in rows:
            series.setdefault(metric_id, {})[day] = value
        cache[today] = series
    return cache[today]


def _read_window(metric_id: int, kind: str, days: int):
    def read(account: object, today: date) -> object:
        series = account_series(account, today).get(metric_id, {})
        return windows.window_value(kind, days, series, today)

    return read


def _read_last_active(metric_id: int):
    def read(account: object, today: date) -> object:
        recent = windows.last_active(account_series(account, today).get(metric_id, {}), today)
        if recent is not None:
            return recent
        older = DailyUsage.objects.filter(
            account_id=account.pk, metric_id=metric_id, day__lte=today, value__gt=0
        ).aggregate(last=Max("day"))
        return older["last"]

    return read


# --- the family -------------------------------------------------------------------------


def _window_field(metric: UsageMetric, kind: str, days: int) -> RuleField:
    name = f"{PREFIX}{metric.key}.{kind}_{days}d"
    return RuleField(
        name=name,
        type=INTEGER if kind == "days_active" else NUMBER,
        source=Computed(
            alias=f"rule_usage_{metric.key}_{kind}_{days}d",
            expression=lambda today: window_expression(metric.pk, kind, days, today),
            read_value=_read_window(metric.pk, kind, days),
            joined=lambda today: window_joined(metric.pk, kind, days, today),
        ),
        label=f"{metric.label}: {_LABELS[kind].format(n=days)}",
        rankable=True,
        app=APP,
    )


def _last_active_field(metric: UsageMetric) -> RuleField:
    return RuleField(
        name=f"{PREFIX}{metric.key}.{windows.LAST_ACTIVE}",
        type=DATE,
        source=Computed(
            alias=f"rule_usage_{metric.key}_last_active",
            expression=lambda today: last_active_expression(metric.pk, today),
            read_value=_read_last_active(metric.pk),
            joined=lambda today: last_active_joined(metric.pk, today),
        ),
        label=f"{metric.label}: last active day",
        rankable=True,
        app=APP,
    )


@dataclass(frozen=True)
class UsageFamily:
    """``usage.KEY.<window field>`` for every metric in the metrics table."""

    prefix: str = PREFIX
    unknown_message: str = "unknown usage metric or window (windows: 7, 14, 30, 60, 90 days)"
    app: str = APP
    # Listing and reading the fields queries the metrics and daily tables (rules.registry).
    on_demand: bool = True

    def resolve(self, key: str, attributes: Mapping[str, AttributeSpec]) -> RuleField | None:
        match = FIELD_NAME.match(key)
        if match is None:
            return None
        metric = UsageMetric.objects.filter(key=match["key"]).first()
        if metric is None:
            return None
        if match["last"]:
            return _last_active_field(metric)
        days = int(match["days"])
        if days not in windows.WINDOWS:
            return None
        return _window_field(metric, match["kind"], days)

    def fields(self, attributes: Mapping[str, AttributeSpec]) -> Iterable[RuleField]:
        for metric in UsageMetric.objects.all():
            for kind in windows.WINDOW_KINDS:
                for days in windows.WINDOWS:
                    yield _window_field(metric, kind, days)
            yield _last_active_field(metric)


USAGE = UsageFamily()


def register_rule_fields() -> None:
    """Register the ``usage.`` family (fields resolved from the metrics table)."""
    register_family(USAGE)

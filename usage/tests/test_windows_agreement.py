"""Every usage window field: the compiled SQL agrees with the in-memory evaluator (and so
with explain) on random series: gaps, zero days, the window edges today−N+1 and today−N;
both when it aggregates the daily rows and when it reads the kept window values."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cs_platform.db import dialect
from customers.models import Account
from rules import (
    RuleValidationError,
    account_rule_values,
    evaluate_rule,
    rank_order_by,
    rule_queryset,
    rule_schema,
    validate_rule,
)
from usage import windows
from usage.features import usage_features_rebuild
from usage.models import DailyUsage, UsageFeatureState, UsageMetric

from .fixtures import account, metric

TODAY = date(2026, 11, 22)
# Offsets a window can start or end at, so edges (today−N+1 and today−N) are hit often.
EDGES = sorted(
    {0, 1, 2}
    | {n - 1 for n in windows.WINDOWS}
    | set(windows.WINDOWS)
    | {2 * n - 1 for n in windows.WINDOWS}
    | {2 * n for n in windows.WINDOWS}
)
offsets = st.one_of(st.sampled_from(EDGES), st.integers(min_value=-1, max_value=200))
values = st.one_of(st.just(Decimal(0)), st.decimals(min_value=0, max_value=500, places=2))
series = st.dictionaries(offsets, values, max_size=25)
SIX_PLACES = Decimal("0.000001")
FIELDS = [f"{kind}_{n}d" for kind in windows.WINDOW_KINDS for n in windows.WINDOWS]


def _set_series(accounts, logins, all_series) -> None:
    DailyUsage.objects.filter(metric=logins).delete()
    DailyUsage.objects.bulk_create(
        DailyUsage(account=acc, metric=logins, day=TODAY - timedelta(days=offset), value=value)
        for acc, one in zip(accounts, all_series, strict=True)
        for offset, value in one.items()
    )


@pytest.mark.django_db
@settings(
    max_examples=16,
    phases=[Phase.explicit, Phase.generate],  # a failure is reported unshrunk: DB-bound
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    all_series=st.lists(series, min_size=4, max_size=4),
    picks=st.lists(st.integers(0, 3), min_size=len(FIELDS) + 1, max_size=len(FIELDS) + 1),
    kept=st.booleans(),
)
def test_window_fields_sql_matches_evaluator(all_series, picks, kept):
    # given four accounts with random daily logins (and their window values kept, or not)
    logins = UsageMetric.objects.get_or_create(key="logins", defaults={"label": "Logins"})[0]
    accounts = _accounts()
    _set_series(accounts, logins, all_series)
    UsageFeatureState.objects.filter(metric=logins).delete()
    if kept:
        usage_features_rebuild(today=TODAY)
    for name, pick in zip([*FIELDS, "last_active"], picks, strict=True):
        field = f"usage.logins.{name}"
        named = {"field": field, "op": "is_null"}
        known = [account_rule_values(acc, today=TODAY, rule=named)[field] for acc in accounts]
        # a threshold equal to one account's value (the edge of gte / lt), or an arbitrary one
        fallback = TODAY if name == "last_active" else Decimal(1)
        candidates = [value for value in known if value is not None] or [fallback]
        threshold = candidates[pick % len(candidates)]
        if name == "last_active":
            rule = {"field": field, "op": "on_or_after", "value": threshold.isoformat()}
        else:
            # (quotients such as avg_7d are compared to 6 decimal places, as a user writes them)
            value = threshold if isinstance(threshold, int) else threshold.quantize(SIX_PLACES)
            fraction = isinstance(value, Decimal) and value != value.to_integral_value()
            quotient = name.startswith(("avg", "change"))
            if value == threshold and (quotient or (fraction and not dialect().is_postgresql)):
                # a quotient (and on SQLite, any fraction: it sums and compares in doubles)
                # is not compared at its exact edge
                value += SIX_PLACES
            rule = {"field": field, "op": "gte", "value": value}
        # when the rule is compiled to SQL and evaluated in memory
        in_sql = set(rule_queryset(rule, today=TODAY).values_list("pk", flat=True))
        in_memory = {
            acc.pk
            for acc in accounts
            if evaluate_rule(rule, account_rule_values(acc, today=TODAY, rule=rule), today=TODAY)
        }
        # then both select the same accounts
        assert in_sql == in_memory, (name, threshold, known)
        null_rule = {"field": field, "op": "is_null"}
        assert set(rule_queryset(null_rule, today=TODAY).values_list("pk", flat=True)) == {
            acc.pk for acc, value in zip(accounts, known, strict=True) if value is None
        }, name


def _accounts() -> list:
    existing = list(Account.objects.order_by("pk")[:4])
    return existing if len(existing) == 4 else [account() for _ in range(4)]


@pytest.mark.django_db
def test_values_at_the_window_edges():
    # given logins on today, today-6 (inside 7d), today-7 (outside 7d, the previous window)
    logins = metric("logins")
    acc = account()
    for offset, value in ((0, 2), (6, 3), (7, 10), (13, 0), (20, 4)):
        DailyUsage.objects.create(
            account=acc, metric=logins, day=TODAY - timedelta(days=offset), value=value
        )
    # (read from the kept window values, as the day-change job leaves them)
    usage_features_rebuild(today=TODAY)
    # when its rule values are read
    named = ("sum_7d", "max_7d", "days_active_7d", "days_active_14d", "change_7d", "avg_14d")
    rule = {
        "all": [
            {"field": f"usage.logins.{name}", "op": "is_null"}
            for name in (*named, "last_active", "change_30d")
        ]
    }
    values = account_rule_values(acc, today=TODAY, rule=rule)
    # then the 7-day window is today-6 .. today
    assert values["usage.logins.sum_7d"] == Decimal(5)
    assert values["usage.logins.max_7d"] == Decimal(3)
    assert values["usage.logins.days_active_7d"] == 2
    assert values["usage.logins.days_active_14d"] == 3
    assert values["usage.logins.change_7d"] == Decimal(-50)
    assert round(values["usage.logins.avg_14d"], 6) == Decimal("1.071429")
    assert values["usage.logins.last_active"] == TODAY
    assert values["usage.logins.change_30d"] is None  # nothing in the 30 days before
    # and SQL agrees, also when ranking ("top N most active")
    top = rule_queryset({"field": "usage.logins.sum_7d", "op": "eq", "value": 5}, today=TODAY)
    assert list(top.values_list("pk", flat=True)) == [acc.pk]
    other = account()
    ranked = (
        type(acc)
        .objects.order_by(*rank_order_by("usage.logins.sum_30d", today=TODAY))
        .values_list("pk", flat=True)
    )
    assert list(ranked) == [acc.pk, other.pk]


@pytest.mark.django_db
def test_an_unknown_metric_or_window_is_an_error_naming_the_path():
    metric("logins")
    for name in ("usage.logins.sum_31d", "usage.nope.sum_30d", "usage.logins.median_30d"):
        rule = {"all": [{"field": name, "op": "gt", "value": 1}]}
        with pytest.raises(RuleValidationError) as error:
            validate_rule(rule)
        assert "all[0].field" in str(error.value.errors), error.value.errors


@pytest.mark.django_db
def test_usage_fields_are_read_only_when_a_rule_names_them():
    # given a metric and an account with usage
    logins = metric("logins")
    acc = account()
    DailyUsage.objects.create(account=acc, metric=logins, day=TODAY, value=3)
    # when its values are built for a rule without usage fields, or one with a usage field
    plain = account_rule_values(acc, today=TODAY, rule={"field": "arr", "op": "gt", "value": 1})
    rule = {"field": "usage.logins.sum_7d", "op": "gte", "value": 3}
    named = account_rule_values(acc, today=TODAY, rule=rule)
    # then only the named usage field is read, and the rule sees its value
    assert not any(name.startswith("usage.") for name in plain)
    assert [name for name in named if name.startswith("usage.")] == ["usage.logins.sum_7d"]
    assert evaluate_rule(rule, named, today=TODAY)
    # and the editor schema lists usage fields only when asked to (it reads the metrics)
    assert "usage.logins.sum_30d" not in rule_schema()["fields"]
    listed = rule_schema(on_demand=True)
    assert listed["fields"]["usage.logins.sum_30d"]["type"] == "number"
    assert "usage.logins.last_active" in listed["rankable"]

"""The window values (``UsageFeatures``) equal, after any sequence of ingestion (daily
values, re-sends, late data, events, days ahead), day-change slides and rebuilds, what
the daily rows give computed in Python; and the rule fields read them only when they are
as of the rule's day."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from customers.models import Account
from rules import rule_queryset
from usage import features, windows
from usage.ingest import usage_daily_ingest, usage_events_ingest
from usage.models import DailyUsage, UsageFeatures, UsageFeatureState, UsageMetric
from usage.services import usage_metric_create, usage_retention_apply

from .fixtures import account, daily, metric

START = date(2026, 11, 22)
ACCOUNTS = ("f-a", "f-b", "f-c")
WINDOW_COLUMNS = ("sum", "prev", "max", "maxday", "days")

accounts = st.sampled_from(ACCOUNTS)
# Days back from today (−1: tomorrow); window edges are hit often.
EDGES = sorted({0, 1, *(n - 1 for n in windows.WINDOWS), *windows.WINDOWS, 2 * 90 - 1, 180})
offsets = st.one_of(st.sampled_from(EDGES), st.integers(min_value=-1, max_value=200))
values = st.one_of(st.sampled_from([0, 1, 5]), st.decimals(min_value=0, max_value=50, places=2))
daily_rows = st.lists(st.tuples(accounts, offsets, values), min_size=1, max_size=10)
event_rows = st.lists(
    st.tuples(accounts, st.integers(min_value=-1, max_value=100), st.integers(0, 4)),
    min_size=1,
    max_size=6,
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("daily"), daily_rows),
        st.tuples(st.just("events"), event_rows),
        st.tuples(st.just("slide"), st.integers(min_value=1, max_value=8)),
        st.tuples(st.just("rebuild"), st.integers(min_value=0, max_value=2)),
    ),
    min_size=1,
    max_size=8,
)


def expected_features(metric_id: int, as_of: date) -> dict[int, dict[str, object]]:
    """Every account's window values as of ``as_of``, computed in Python from its rows:
    each window's days before ``as_of`` (the rules add the row of ``as_of`` itself)."""
    series: dict[int, dict[date, Decimal]] = {}
    for account_id, day, value in DailyUsage.objects.filter(metric_id=metric_id).values_list(
        "account_id", "day", "value"
    ):
        series.setdefault(account_id, {})[day] = value
    expected = {}
    for account_id, every_day in series.items():
        days = {day: value for day, value in every_day.items() if day < as_of}
        row: dict[str, object] = {"last_active": windows.last_active(days, as_of)}
        for n in windows.WINDOWS:
            largest = windows.window_value("max", n, days, as_of)
            first = windows.window_start(as_of, n)
            row[f"sum_{n}d"] = windows.window_value("sum", n, days, as_of)
            row[f"prev_{n}d"] = windows.window_sum(days, as_of - timedelta(days=n), n)
            row[f"max_{n}d"] = largest
            row[f"maxday_{n}d"] = (
                max(d for d, v in days.items() if first <= d <= as_of and v == largest)
                if largest
                else None
            )
            row[f"days_{n}d"] = windows.window_value("days_active", n, days, as_of)
        expected[account_id] = row
    return expected


def stored_features(metric_id: int) -> dict[int, dict[str, object]]:
    columns = ["last_active"] + [f"{c}_{n}d" for n in windows.WINDOWS for c in WINDOW_COLUMNS]
    return {
        row["account_id"]: {column: row[column] for column in columns}
        for row in UsageFeatures.objects.filter(metric_id=metric_id).values("account_id", *columns)
    }


def assert_features_right(metric: UsageMetric) -> None:
    as_of = UsageFeatureState.objects.get(metric=metric).as_of
    expected = expected_features(metric.pk, as_of)
    stored = stored_features(metric.pk)
    zeros = expected_features_of_nothing()
    # (a pair whose only rows are after as_of may have a row of zeros, or none)
    for account_id in set(expected) | set(stored):
        want = expected.get(account_id, zeros)
        got = stored.get(account_id, zeros)
        assert got == want, (
            account_id,
            as_of,
            {k: (got[k], want[k]) for k in want if got[k] != want[k]},
        )


def expected_features_of_nothing() -> dict[str, object]:
    row: dict[str, object] = {"last_active": None}
    for n in windows.WINDOWS:
        row.update({f"sum_{n}d": 0, f"prev_{n}d": 0, f"max_{n}d": 0, f"days_{n}d": 0})
        row[f"maxday_{n}d"] = None
    return row


@pytest.mark.django_db
@settings(
    max_examples=30,
    phases=[Phase.explicit, Phase.generate],  # a failure is reported unshrunk: DB-bound
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=daily_rows, steps=operations)
def test_kept_window_values_equal_the_daily_rows(django_settings, history, steps):
    # given a metric created through the service (its empty features are as of today)
    today = START
    django_settings.CS_TODAY = today
    django_settings.USAGE_TIME_ZONE = "UTC"
    DailyUsage.objects.all().delete()
    UsageMetric.objects.all().delete()
    for external_id in ACCOUNTS:
        if not Account.objects.filter(external_id=external_id).exists():
            account(external_id=external_id)
    logins = usage_metric_create(key="logins")
    assert UsageFeatureState.objects.get(metric=logins).as_of == today

    def ingest_daily(rows) -> None:
        usage_daily_ingest(
            rows=[
                {
                    "account": external_id,
                    "metric": "logins",
                    "day": (today - timedelta(days=back)).isoformat(),
                    # a whole value as a JSON integer (the rows' fast path), else as text
                    "value": int(value) if value == int(value) else str(value),
                }
                for external_id, back, value in rows
            ]
        )

    # when history arrives, then any mix of re-sends, late data, events and day changes
    ingest_daily(history)
    assert_features_right(logins)
    for kind, payload in steps:
        if kind == "daily":
            ingest_daily(payload)
        elif kind == "events":
            events = [
                {
                    "account": external_id,
                    "metric": "logins",
                    "at": f"{(today - timedelta(days=back)).isoformat()}T12:00:00+00:00",
                    "count": count,
                }
                for external_id, back, count in payload
            ]
            usage_events_ingest(rows=events, idempotency_key=None)
        elif kind == "rebuild":  # as of today, or a day or two before (slid later)
            features.usage_features_rebuild(today=today - timedelta(days=payload))
        else:
            today += timedelta(days=payload)
            django_settings.CS_TODAY = today
            as_of = UsageFeatureState.objects.get(metric=logins).as_of
            done = features.usage_features_slide(today=today)
            behind = (today - as_of).days
            expected = "slid" if 0 < behind <= features.MAX_SLIDE_DAYS else "rebuilt"
            assert done == {logins.pk: expected}
        # then the kept values are what the daily rows give
        assert_features_right(logins)


@pytest.fixture
def django_settings(settings):
    return settings


@pytest.mark.django_db
def test_a_rule_reads_the_window_values_only_when_they_are_as_of_its_day(settings):
    # given an account with 6 logins yesterday and today, and the metric's features
    # built as of today
    settings.CS_TODAY = START
    logins, acc = metric("logins"), account()
    daily(acc, logins, START - timedelta(days=1), 6)
    daily(acc, logins, START, 6)
    features.usage_features_rebuild(today=START)
    rule = {"field": "usage.logins.sum_7d", "op": "gte", "value": 100}
    assert not rule_queryset(rule, today=START).exists()
    # when the kept value is tampered with (to see which source a rule reads)
    UsageFeatures.objects.filter(account=acc).update(sum_7d=500)
    # then a rule for the features' day reads it, and one for another day does not
    assert list(rule_queryset(rule, today=START)) == [acc]
    assert not rule_queryset(rule, today=START + timedelta(days=1)).exists()
    # and a metric whose features were never built reads the daily table
    UsageFeatureState.objects.filter(metric=logins).update(as_of=None)
    assert not rule_queryset(rule, today=START).exists()


@pytest.mark.django_db
def test_a_new_metric_reads_the_window_values_at_once(settings, manager):
    from customers.tests.api_client import api_client

    # given a metric created through the API, and a day of usage sent
    settings.CS_TODAY = START
    acc = account(external_id="acme")
    client = api_client(manager)
    assert (
        client.post(
            "/api/usage/metrics/", {"key": "logins", "label": "Logins"}, format="json"
        ).status_code
        == 201
    )
    rows = [{"account": "acme", "metric": "logins", "day": START.isoformat(), "value": 4}]
    assert client.post("/api/usage/daily/", rows, format="json").status_code == 200
    # then the features are as of today (today's row is read with them)
    assert UsageFeatureState.objects.get(metric__key="logins").as_of == START
    rule = {"field": "usage.logins.days_active_7d", "op": "eq", "value": 1}
    assert list(rule_queryset(rule, today=START)) == [acc]


@pytest.mark.django_db
def test_retention_keeps_the_window_values_right(settings):
    # given rows 400 days old and recent ones, features built yesterday
    settings.CS_TODAY = START
    settings.USAGE_RETENTION_DAYS = 200
    logins, old, recent = metric("logins"), account(), account()
    daily(old, logins, START - timedelta(days=300), 3)
    daily(recent, logins, START - timedelta(days=300), 3)
    daily(recent, logins, START - timedelta(days=2), 1)
    features.usage_features_rebuild(today=START - timedelta(days=1))
    # when the retention job runs today
    assert usage_retention_apply() == 2
    # then the features are as of today and the old account's last active day is gone
    assert UsageFeatureState.objects.get(metric=logins).as_of == START
    assert_features_right(logins)
    assert UsageFeatures.objects.get(account=old).last_active is None


@pytest.mark.django_db
@pytest.mark.parametrize("days", windows.WINDOWS)
def test_a_window_largest_day_leaving_is_looked_up_again(settings, days):
    # given the largest value of the N-day window on its first day, a lower one later,
    # and the same largest value on the day before the window (gone already)
    settings.CS_TODAY = START
    logins, acc = metric("logins"), account()
    first = windows.window_start(START, days)
    daily(acc, logins, first - timedelta(days=1), 9)
    daily(acc, logins, first, 9)
    daily(acc, logins, first + timedelta(days=1), 4)
    daily(acc, logins, START, 2)
    features.usage_features_rebuild(today=START)
    row = UsageFeatures.objects.get(account=acc)
    assert (getattr(row, f"max_{days}d"), getattr(row, f"maxday_{days}d")) == (9, first)
    # when the day changes (the first day leaves the window)
    assert features.usage_features_slide(today=START + timedelta(days=1)) == {logins.pk: "slid"}
    # then the window's largest value is the lower one, on its own day
    row = UsageFeatures.objects.get(account=acc)
    got = (getattr(row, f"max_{days}d"), getattr(row, f"maxday_{days}d"))
    assert got == (4, first + timedelta(days=1))
    assert_features_right(logins)


@pytest.mark.django_db
def test_the_command_slides_or_rebuilds(settings):
    from django.core.management import CommandError, call_command

    # given features built yesterday
    settings.CS_TODAY = START
    logins, acc = metric("logins"), account()
    daily(acc, logins, START, 2)
    features.usage_features_rebuild(today=START - timedelta(days=1))
    # when the command runs without options, then it slides them to today
    call_command("usage_features")
    assert UsageFeatureState.objects.get(metric=logins).as_of == START
    assert_features_right(logins)
    # and --rebuild recomputes them; an unknown metric is an error
    UsageFeatures.objects.update(sum_7d=99)
    call_command("usage_features", "--rebuild", "--metric", "logins")
    assert_features_right(logins)
    with pytest.raises(CommandError, match="nope"):
        call_command("usage_features", "--rebuild", "--metric", "nope")


@pytest.mark.django_db
def test_deleting_an_account_deletes_its_usage(settings):
    from customers.services import account_delete

    # given an account with daily rows and window values, and another one
    settings.CS_TODAY = START
    logins, gone, kept = metric("logins"), account(), account()
    for acc in (gone, kept):
        daily(acc, logins, START - timedelta(days=1), 3)
    features.usage_features_rebuild(today=START)
    # when one account is deleted (the daily table has no foreign-key constraint)
    account_delete(account=gone)
    # then its rows went with it, and the other account's stayed
    assert set(DailyUsage.objects.values_list("account_id", flat=True)) == {kept.pk}
    assert set(UsageFeatures.objects.values_list("account_id", flat=True)) == {kept.pk}


@pytest.mark.django_db
def test_an_account_deleted_while_its_batch_is_checked_is_a_400(settings, monkeypatch):
    from django.core.exceptions import ValidationError

    # given a batch whose account is deleted after the batch was checked, before writing
    settings.CS_TODAY = START
    metric("logins")
    acc = account(external_id="late")
    take_lock = features.usage_writers_lock

    def delete_first() -> None:
        Account.objects.filter(pk=acc.pk).delete()
        take_lock()

    monkeypatch.setattr(features, "usage_writers_lock", delete_first)
    rows = [{"account": "late", "metric": "logins", "day": START.isoformat(), "value": 1}]
    # when it is written, then it is refused and nothing is written
    with pytest.raises(ValidationError, match="deleted while the batch was checked"):
        usage_daily_ingest(rows=rows)
    assert not DailyUsage.objects.exists()


@pytest.mark.django_db
def test_a_days_batch_leaves_the_window_values_and_late_data_updates_them(settings):
    # given an account with logins on the last three days, window values as of today
    settings.CS_TODAY = START
    logins, acc = metric("logins"), account(external_id="acme")
    for back in (1, 2, 3):
        daily(acc, logins, START - timedelta(days=back), 2)
    features.usage_features_rebuild(today=START)
    kept = stored_features(logins.pk)
    rule = {"field": "usage.logins.sum_7d", "op": "eq", "value": 15}

    def row(day: date, value: int) -> dict:
        return {"account": "acme", "metric": "logins", "day": day.isoformat(), "value": value}

    # when today's batch arrives (a new day: copied straight into the daily table)
    assert usage_daily_ingest(rows=[row(START, 9)]).changed_accounts == 1
    # then the window values are untouched, and the rules read today's row with them
    assert stored_features(logins.pk) == kept
    assert list(rule_queryset(rule, today=START)) == [acc]
    # when today is re-sent and a past day corrected (late data)
    usage_daily_ingest(rows=[row(START, 10), row(START - timedelta(days=2), 1)])
    # then only the past day reached the window values, and the rules agree
    assert stored_features(logins.pk) != kept
    assert_features_right(logins)
    assert list(rule_queryset(rule, today=START)) == [acc]  # 2 + 1 + 2 + 10
    assert DailyUsage.objects.get(day=START).value == 10

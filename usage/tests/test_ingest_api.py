"""The usage API: daily values (JSON and CSV), events with Idempotency-Key and the time
zone's day, an account's series, and every kind of bad input (400, nothing written)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from customers.models import PendingEvaluation
from customers.tests.api_client import api_client
from usage.api.views import BulkJSONParser, CSVTextParser
from usage.models import DailyUsage, MetricKind, UsageMetric
from usage.settings_access import MAX_ROWS_PER_REQUEST

from .fixtures import account, metric, stored

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 22)


@pytest.fixture
def pinned(settings):
    settings.CS_TODAY = TODAY
    settings.USAGE_TIME_ZONE = "America/New_York"


def test_daily_json_then_resend_replaces_and_marks_only_changed(manager, pinned):
    # given two accounts and a metric
    logins, a, b = metric("logins"), account(external_id="a"), account(external_id="b")
    client = api_client(manager)
    rows = [
        {"account": "a", "metric": "logins", "day": "2026-11-20", "value": 3},
        {"account": "b", "metric": "logins", "day": "2026-11-21", "value": "4.5"},
    ]
    # when a batch is posted
    response = client.post("/api/usage/daily/", rows, format="json")
    # then it is written and both accounts are marked
    assert response.status_code == 200, response.data
    assert response.data == {"written": 2}
    assert stored(logins) == {(a.pk, date(2026, 11, 20)): 3, (b.pk, date(2026, 11, 21)): 4.5}
    assert set(PendingEvaluation.objects.values_list("account_id", flat=True)) == {a.pk, b.pk}
    # when the same day is re-sent with one value changed (late data for a past day)
    PendingEvaluation.objects.all().delete()
    rows[0]["value"] = 7
    assert client.post("/api/usage/daily/", rows, format="json").status_code == 200
    # then the row is replaced and only the changed account is marked
    assert stored(logins)[(a.pk, date(2026, 11, 20))] == 7
    assert DailyUsage.objects.count() == 2
    assert list(PendingEvaluation.objects.values_list("account_id", flat=True)) == [a.pk]


def test_daily_csv(manager, pinned):
    logins, a = metric("logins"), account(external_id="a")
    body = "account,metric,day,value\na,logins,2026-11-22,5\n"
    response = api_client(manager).post("/api/usage/daily/", body, content_type="text/csv")
    assert response.status_code == 200, response.data
    assert stored(logins) == {(a.pk, TODAY): 5}


def test_events_add_to_the_time_zone_day_and_a_replay_adds_nothing(manager, pinned):
    # given a count metric and events either side of midnight in New York (UTC-5)
    logins, a = metric("logins"), account(external_id="a")
    events = [
        {"account": "a", "metric": "logins", "at": "2026-11-21T04:59:59Z", "count": 1},
        {"account": "a", "metric": "logins", "at": "2026-11-21T05:00:00Z", "count": 2},
        {"account": "a", "metric": "logins", "at": "2026-11-21T23:00:00-05:00", "count": 3},
    ]
    client = api_client(manager)
    # when the batch is posted, then replayed with the same key
    first = client.post("/api/usage/events/", events, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    replay = client.post("/api/usage/events/", events, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    # then the days are New York's and the replay added nothing
    assert first.data == {"accepted": 3}
    assert replay.data == {"accepted": 0, "duplicate_batch": True}
    assert stored(logins) == {(a.pk, date(2026, 11, 20)): 1, (a.pk, date(2026, 11, 21)): 5}
    # and a new batch adds to the day
    client.post("/api/usage/events/", events[1:2], format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert stored(logins)[(a.pk, date(2026, 11, 21))] == 7


def test_account_series(manager, pinned):
    metric("logins")
    a = account(external_id="a")
    rows = [
        {"account": "a", "metric": "logins", "day": f"2026-11-{d:02d}", "value": d} for d in (1, 9)
    ]
    api_client(manager).post("/api/usage/daily/", rows, format="json")
    response = api_client(manager).get(
        f"/api/accounts/{a.pk}/usage/?metric=logins&since=2026-11-05"
    )
    assert response.status_code == 200
    assert response.json() == [{"metric": "logins", "day": "2026-11-09", "value": "9.0000"}]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"account": "zz", "metric": "logins", "day": "2026-11-20", "value": 1}, "account"),
        ({"account": "a", "metric": "nope", "day": "2026-11-20", "value": 1}, "metric"),
        ({"account": "a", "metric": "logins", "day": "2026-11-20", "value": -1}, "value"),
        ({"account": "a", "metric": "logins", "day": "2026-11-20", "value": "x"}, "value"),
        ({"account": "a", "metric": "logins", "day": "2026-11-24", "value": 1}, "future"),
        ({"account": "a", "metric": "logins", "day": "2026-13-01", "value": 1}, "day"),
    ],
)
def test_bad_daily_rows_are_a_400_naming_the_row_and_nothing_is_written(
    manager, pinned, row, message
):
    metric("logins")
    account(external_id="a")
    good = {"account": "a", "metric": "logins", "day": "2026-11-23", "value": 1}
    response = api_client(manager).post("/api/usage/daily/", [good, row], format="json")
    assert response.status_code == 400
    assert list(response.data) == ["rows", "1"], response.data
    assert message in str(response.data["1"])
    assert not DailyUsage.objects.exists()
    assert not PendingEvaluation.objects.exists()


def test_a_gauge_sent_as_events_is_a_400(manager, pinned):
    metric("seats", kind=MetricKind.GAUGE)
    account(external_id="a")
    events = [{"account": "a", "metric": "seats", "at": "2026-11-21T10:00:00Z", "count": 1}]
    response = api_client(manager).post("/api/usage/events/", events, format="json")
    assert response.status_code == 400
    assert "gauge" in str(response.data["0"])
    assert not DailyUsage.objects.exists()


def _full_batch() -> list[dict]:
    """The documented maximum: 100,000 distinct (account, metric, day) rows (~7.5 MB JSON)."""
    accounts = [account(external_id=f"acc-{n}").external_id for n in range(50)]
    days = [(TODAY - timedelta(days=offset)).isoformat() for offset in range(2000)]
    return [
        {"account": external_id, "metric": "logins", "day": day, "value": 1}
        for external_id in accounts
        for day in days
    ]


def test_the_documented_100000_rows_are_accepted_as_json_csv_and_events(manager, pinned):
    # given 100,000 distinct daily rows (a body far above Django's 2.5 MB upload limit)
    metric("logins")
    rows = _full_batch()
    assert len(rows) == MAX_ROWS_PER_REQUEST
    client = api_client(manager)
    # when they are sent as JSON, then as CSV, then as 100,000 events
    as_json = client.post("/api/usage/daily/", rows, format="json")
    lines = ["account,metric,day,value", *(f"{r['account']},logins,{r['day']},2" for r in rows)]
    as_csv = client.post("/api/usage/daily/", "\n".join(lines), content_type="text/csv")
    events = [{"account": r["account"], "metric": "logins", "at": r["day"]} for r in rows]
    as_events = client.post("/api/usage/events/", events, format="json")
    # then each is accepted whole
    assert (as_json.status_code, as_json.data) == (200, {"written": MAX_ROWS_PER_REQUEST})
    assert (as_csv.status_code, as_csv.data) == (200, {"written": MAX_ROWS_PER_REQUEST})
    assert as_events.status_code == 200, as_events.data
    assert DailyUsage.objects.count() == MAX_ROWS_PER_REQUEST
    assert set(DailyUsage.objects.values_list("value", flat=True)) == {3}


def test_more_rows_than_documented_is_a_400_and_nothing_is_written(manager, pinned):
    metric("logins")
    rows = _full_batch()
    extra = [*rows, rows[0]]
    client = api_client(manager)
    for path in ("/api/usage/daily/", "/api/usage/events/"):
        response = client.post(path, extra, format="json")
        assert response.status_code == 400, path
        assert "100,000" in str(response.data["rows"]), path
    lines = ["account,metric,day,value", *(f"{r['account']},logins,{r['day']},1" for r in extra)]
    response = client.post("/api/usage/daily/", "\n".join(lines), content_type="text/csv")
    assert response.status_code == 400
    assert "100,000" in str(response.data["rows"])
    assert not DailyUsage.objects.exists()


def test_a_body_above_the_byte_limit_is_a_413(manager, pinned, monkeypatch):
    # (the real bound is 64 MB; lowered here so the test sends a small body)
    monkeypatch.setattr(BulkJSONParser, "max_bytes", 1000)
    monkeypatch.setattr(CSVTextParser, "max_bytes", 1000)
    metric("logins")
    account(external_id="a")
    rows = [{"account": "a", "metric": "logins", "day": "2026-11-20", "value": 1}] * 50
    client = api_client(manager)
    assert client.post("/api/usage/daily/", rows, format="json").status_code == 413
    assert client.post("/api/usage/events/", rows, format="json").status_code == 413
    body = "account,metric,day,value\n" + "a,logins,2026-11-20,1\n" * 100
    assert client.post("/api/usage/daily/", body, content_type="text/csv").status_code == 413
    assert not DailyUsage.objects.exists()


def test_a_csm_cannot_ingest(csm, pinned):
    metric("logins")
    response = api_client(csm).post("/api/usage/daily/", [], format="json")
    assert response.status_code == 403


def test_import_usage_command(tmp_path, pinned):
    from django.core.management import call_command

    logins, a = metric("logins"), account(external_id="a")
    path = tmp_path / "usage.csv"
    path.write_text("account,metric,day,value\na,logins,2026-11-21,2\n")
    call_command("import_usage", str(path))
    assert stored(logins) == {(a.pk, date(2026, 11, 21)): 2}


def test_a_metric_created_without_a_kind_counts_by_default(manager):
    client = api_client(manager)

    created = client.post(
        "/api/usage/metrics/", {"key": "logins", "label": "Logins"}, format="json"
    )
    refused = client.post("/api/usage/metrics/", {"key": "not a slug", "label": "X"}, format="json")

    assert created.status_code == 201
    assert created.json() | {"id": 0} == {
        "id": 0,
        "key": "logins",
        "label": "Logins",
        "unit": "",
        "kind": "count",
    }
    assert refused.status_code == 400 and "key" in refused.json()
    assert UsageMetric.objects.count() == 1


def test_rows_off_the_fast_path_are_read_as_before(manager, pinned):
    # given names with spaces around them, a numeric external id, a decimal text and a
    # key sent twice (the last value wins)
    logins, a, n = metric("logins"), account(external_id="a"), account(external_id="42")
    rows = [
        {"account": " a ", "metric": "logins ", "day": " 2026-11-20", "value": 1},
        {"account": 42, "metric": "logins", "day": "2026-11-20", "value": "2.5"},
        {"account": "a", "metric": "logins", "day": "2026-11-21", "value": 3},
        {"account": "a", "metric": "logins", "day": "2026-11-21", "value": 4},
    ]
    # when they are posted
    response = api_client(manager).post("/api/usage/daily/", rows, format="json")
    # then each is read as its stripped text, and the repeated key keeps its last value
    assert response.status_code == 200, response.data
    assert stored(logins) == {
        (a.pk, date(2026, 11, 20)): 1,
        (n.pk, date(2026, 11, 20)): Decimal("2.5"),
        (a.pk, date(2026, 11, 21)): 4,
    }


def test_every_fault_of_every_bad_row_is_named(manager, pinned):
    # given good rows around rows with one or several faults each
    metric("logins")
    metric("seats", kind=MetricKind.GAUGE)
    account(external_id="a")
    good = {"account": "a", "metric": "logins", "day": "2026-11-21", "value": 1}
    rows = [
        good,
        {"account": "zz", "metric": "logins", "day": "2026-11-21", "value": -1},
        "not an object",
        {"account": "a", "metric": "logins", "day": "2026-11-21", "value": True},
        {"account": "a", "metric": "logins", "day": "2026-11-21", "value": 10**14},
        {"account": "a", "metric": "nope", "day": "tomorrow", "value": 1.00001},
        good,
    ]
    client = api_client(manager)
    # when they are posted as daily values, and as events (with a gauge among them)
    daily = client.post("/api/usage/daily/", rows, format="json")
    events = [
        {"account": "a", "metric": "logins", "at": "2026-11-21T10:00:00Z"},
        {"account": "a", "metric": "seats", "at": "2026-11-21T10:00:00Z", "count": -2},
        {"account": "a", "metric": "logins", "at": "2026-11-21T10:00:00Z", "count": "x"},
    ]
    sent = client.post("/api/usage/events/", events, format="json")
    # then each bad row is named with each of its faults, and nothing is written
    assert daily.status_code == 400
    assert list(daily.data) == ["rows", "1", "2", "3", "4", "5"], daily.data
    assert [m.split(":")[0] for m in daily.data["1"]] == ["account", "value"]
    assert "expected an object" in daily.data["2"][0]
    assert "not a number" in daily.data["3"][0]
    assert "14 digits" in daily.data["4"][0]
    assert [m.split(":")[0] for m in daily.data["5"]] == ["metric", "day", "value"]
    assert sent.status_code == 400
    assert list(sent.data) == ["rows", "1", "2"], sent.data
    assert [m.split(":")[0] for m in sent.data["1"]] == ["metric", "count"]
    assert "gauge" in sent.data["1"][0]
    assert "not a number" in sent.data["2"][0]
    assert not DailyUsage.objects.exists()
    assert not PendingEvaluation.objects.exists()


def test_a_future_day_names_its_row_and_a_repeated_key_keeps_its_last_value(manager, pinned):
    # given rows of known names, valid days and integer values with one key sent twice,
    # and the same rows with one day in the future
    logins, a, b = metric("logins"), account(external_id="a"), account(external_id="b")
    rows = [
        {"account": "a", "metric": "logins", "day": "2026-11-22", "value": 5},
        {"account": "b", "metric": "logins", "day": "2026-11-22", "value": 0},
        {"account": "a", "metric": "logins", "day": "2026-11-21", "value": 7},
        {"account": "a", "metric": "logins", "day": "2026-11-22", "value": 6},
    ]
    client = api_client(manager)
    # when the batch with the future day is posted, then the plain one
    future = [*rows[:2], {**rows[2], "day": "2026-11-24"}, rows[3]]
    refused = client.post("/api/usage/daily/", future, format="json")
    accepted = client.post("/api/usage/daily/", rows, format="json")
    # then the first is a 400 naming that row only, and nothing of it was written; the
    # second writes every key once, the repeated key with its last value
    assert refused.status_code == 400
    assert list(refused.data) == ["rows", "2"], refused.data
    assert (accepted.status_code, accepted.data) == (200, {"written": 4})
    assert stored(logins) == {
        (a.pk, date(2026, 11, 22)): 6,
        (b.pk, date(2026, 11, 22)): 0,
        (a.pk, date(2026, 11, 21)): 7,
    }

"""Parsing and checking of ingested usage rows (DESIGN 11): every row validated, any bad
row named by its index (all or nothing), the accounts, metrics and days looked up once
per batch. ``usage.ingest`` writes what this returns."""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.dateparse import parse_datetime

from cs_platform.db import dialect, table_name
from customers.models import Account

from .models import USAGE_VALUE, MetricKind, UsageMetric
from .settings_access import MAX_ROWS_PER_REQUEST, latest_allowed_day, usage_time_zone

DAILY_COLUMNS = ("account", "metric", "day", "value")
EVENT_COLUMNS = ("account", "metric", "at", "count")
# Accounts looked up by external id per query (one IN list; bounded statement size).
ACCOUNT_LOOKUP_BATCH = 10_000
# At most this many row errors are listed; the count says how many there were.
MAX_ERRORS_LISTED = 100
_MAX_VALUE = Decimal(10) ** (USAGE_VALUE["max_digits"] - USAGE_VALUE["decimal_places"])

Key = tuple[int, int, date]


@dataclass(frozen=True)
class CSVBody:
    """A CSV request body, parsed into rows by the view for the endpoint's columns."""

    text: str


class RowErrors:
    """Errors by row index, raised as one ValidationError ({"rows": {index: [...]}})."""

    def __init__(self) -> None:
        self.by_row: dict[int, list[str]] = {}
        self.count = 0

    def add(self, index: int, message: str) -> None:
        self.count += 1
        if len(self.by_row) < MAX_ERRORS_LISTED or index in self.by_row:
            self.by_row.setdefault(index, []).append(message)

    def raise_if_any(self) -> None:
        if self.count:
            rows = {str(index): messages for index, messages in sorted(self.by_row.items())}
            raise ValidationError(
                {"rows": [f"{self.count} error(s) in {len(self.by_row)}+ row(s)"], **rows}
            )


# --- parsing ----------------------------------------------------------------------------


def rows_from_csv(text: str, columns: Sequence[str]) -> list[dict[str, str]]:
    """The rows of a CSV with a header naming ``columns`` (any order, extra columns are an
    error, so a typo cannot silently drop a value)."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [column for column in columns if column not in header]
    extra = [column for column in header if column not in columns]
    if missing or extra:
        raise ValidationError(
            {"csv": [f"the header must be {', '.join(columns)} (missing {missing}, extra {extra})"]}
        )
    return list(reader)


def _check_size(rows: object) -> Sequence[Any]:
    if not isinstance(rows, list):
        raise ValidationError({"rows": ["expected a JSON list of rows (or a CSV body)"]})
    if len(rows) > MAX_ROWS_PER_REQUEST:
        raise ValidationError(
            {"rows": [f"{len(rows)} rows; at most {MAX_ROWS_PER_REQUEST:,} a request"]}
        )
    return rows


def _value(raw: object) -> Decimal | None:
    if type(raw) is int:  # the usual JSON count: exact, no text round trip
        return Decimal(raw)
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _metrics() -> dict[str, UsageMetric]:
    return {metric.key: metric for metric in UsageMetric.objects.all()}


def _account_ids(external_ids: Iterable[str]) -> dict[str, int]:
    """The ids of the accounts with these external ids (one query per
    ``ACCOUNT_LOOKUP_BATCH``, the ids bound as one parameter)."""
    wanted = sorted(set(external_ids))
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(wanted), ACCOUNT_LOOKUP_BATCH):
            condition, params = dialect().in_ids(
                "external_id", wanted[start : start + ACCOUNT_LOOKUP_BATCH]
            )
            cursor.execute(
                f"SELECT external_id, id FROM {table_name(Account)} WHERE {condition}", params
            )
            found.update(cursor.fetchall())
    return found


def _text(raw: object) -> str:
    if type(raw) is str:
        return raw.strip()
    return "" if raw is None else str(raw).strip()


def _texts(rows: Sequence[Any], column: str) -> set[str]:
    """The distinct stripped texts of ``column`` among the rows that are objects."""
    raws = [row.get(column) for row in rows if type(row) is dict]
    texts = {raw for raw in raws if type(raw) is str}
    return {text.strip() for text in texts} | {_text(raw) for raw in raws if type(raw) is not str}


_FOUR_PLACES = Decimal("0.0001")
# A JSON integer in [0, _MAX_INT) is a valid value as it is (no Decimal made: most rows).
_MAX_INT = 10 ** (USAGE_VALUE["max_digits"] - USAGE_VALUE["decimal_places"])


def _checked_value(raw: object, column: str, index: int, errors: RowErrors) -> Decimal | None:
    value = _value(raw)
    if value is None:
        errors.add(index, f"{column}: not a number: {raw!r}")
    elif value < 0:
        errors.add(index, f"{column}: must be 0 or more")
    elif value >= _MAX_VALUE or (type(raw) is not int and value != value.quantize(_FOUR_PLACES)):
        errors.add(index, f"{column}: at most 14 digits and 4 decimal places")
    else:
        return value
    return None


class _Days:
    """Parsed days by their text (a batch repeats a few days many times), each checked
    against the latest day accepted (one day ahead of today). ``accepted``: the texts of
    the valid days, for the rows' fast path."""

    def __init__(self, parse) -> None:
        self.parse = parse
        self.latest = latest_allowed_day()
        self.parsed: dict[str, date | None] = {}
        self.accepted: dict[str, date] = {}

    def checked(self, raw: str, column: str, index: int, errors: RowErrors) -> date | None:
        if raw in self.parsed:
            day = self.parsed[raw]
        else:
            day = self.parsed[raw] = self.parse(raw)
        if day is None:
            errors.add(index, f"{column}: not a valid date: {raw!r}")
        elif day > self.latest:
            errors.add(index, f"{column}: {day.isoformat()} is more than one day in the future")
        else:
            self.accepted[raw] = day
            return day
        return None


def _iso_day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


class _Rows:
    """What the rows of a batch refer to, looked up once per batch: the accounts by
    external id (one query per ``ACCOUNT_LOOKUP_BATCH``), the metrics by key, the days by
    text (``_Days``)."""

    def __init__(self, rows: Sequence[Any], columns: Sequence[str], days: _Days) -> None:
        self.columns = columns
        self.accounts = _account_ids(_texts(rows, "account"))
        self.metrics = _metrics()
        self.metric_ids = {key: metric.pk for key, metric in self.metrics.items()}
        self.days = days

    def checked(
        self, row: object, index: int, day_column: str, errors: RowErrors
    ) -> tuple[int, UsageMetric, date] | None:
        """The row's (account id, metric, day), every fault added to ``errors`` (the slow
        path of a row: texts to strip, unknown names, days not seen yet, bad input)."""
        if type(row) is not dict:
            errors.add(index, f"expected an object with {', '.join(self.columns)}")
            return None
        account_text, metric_text = _text(row.get("account")), _text(row.get("metric"))
        account_id = self.accounts.get(account_text)
        metric = self.metrics.get(metric_text)
        if account_id is None:
            errors.add(index, f"account: unknown account {account_text!r}")
        if metric is None:
            errors.add(index, f"metric: unknown metric {metric_text!r}")
        day = self.days.checked(_text(row.get(day_column)), day_column, index, errors)
        if account_id is None or metric is None or day is None:
            return None
        return account_id, metric, day


def daily_rows_validate(rows: object) -> dict[Key, Decimal | int]:
    """The values by (account id, metric id, day) of a daily batch; a key sent twice keeps
    its last value. Raises ValidationError naming every bad row by index.

    A row whose account, metric and day are known as sent and whose value is a JSON
    integer in range (nearly every row) takes the fast path: three lookups, no Decimal;
    any other row is checked field by field (``_Rows.checked``, ``_checked_value``)."""
    rows = _check_size(rows)
    errors = RowErrors()
    refs = _Rows(rows, DAILY_COLUMNS, _Days(_iso_day))
    accounts, metric_ids, days = refs.accounts, refs.metric_ids, refs.days.accepted
    values: dict[Key, Decimal | int] = {}
    for index, row in enumerate(rows):
        try:
            value = row["value"]
            if type(value) is int and 0 <= value < _MAX_INT:
                values[accounts[row["account"]], metric_ids[row["metric"]], days[row["day"]]] = (
                    value
                )
                continue
        except (KeyError, TypeError):  # not an object, a name to strip or unknown, a new day
            pass
        target = refs.checked(row, index, "day", errors)
        if type(row) is not dict:
            continue
        value = _checked_value(row.get("value"), "value", index, errors)
        if target and value is not None:
            values[(target[0], target[1].pk, target[2])] = value
    errors.raise_if_any()
    return values


def _event_day_parser():
    zone = usage_time_zone()

    def event_day(raw: str) -> date | None:
        try:
            moment = parse_datetime(raw)
        except ValueError:
            return None
        if moment is None:
            return None
        if moment.tzinfo is None:  # a time without an offset is in the usage time zone
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(zone).date()

    return event_day


def event_rows_validate(rows: object) -> dict[Key, Decimal | int]:
    """The counts to add by (account id, metric id, day): each event's day is the usage
    time zone's date of ``at``. Only count metrics take events. The same fast path as
    ``daily_rows_validate`` (a known count metric, an ``at`` seen before, no count or a
    JSON integer count)."""
    rows = _check_size(rows)
    errors = RowErrors()
    refs = _Rows(rows, EVENT_COLUMNS, _Days(_event_day_parser()))
    accounts, days = refs.accounts, refs.days.accepted
    counted = {key: m.pk for key, m in refs.metrics.items() if m.kind == MetricKind.COUNT}
    totals: dict[Key, Decimal | int] = {}
    for index, row in enumerate(rows):
        try:
            count = row.get("count", 1)
            if type(count) is int and 0 <= count < _MAX_INT:
                key = (accounts[row["account"]], counted[row["metric"]], days[row["at"]])
                totals[key] = totals.get(key, 0) + count
                continue
        except (KeyError, TypeError, AttributeError):  # as daily_rows_validate; a non-object
            pass
        target = refs.checked(row, index, "at", errors)
        if type(row) is not dict:
            continue
        if target and target[1].kind != MetricKind.COUNT:
            errors.add(index, f"metric: {target[1].key!r} is a gauge; send gauges as daily values")
            target = None
        count = _checked_value(row.get("count", 1), "count", index, errors)
        if target and count is not None:
            key = (target[0], target[1].pk, target[2])
            totals[key] = totals.get(key, 0) + count
    errors.raise_if_any()
    return totals

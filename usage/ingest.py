"""Ingestion of daily usage and events (DESIGN 11): parse, validate every row (all or
nothing: any bad row is a 400 naming the rows by index), then write set-based.

Writing: the rows (one per account, metric and day) go into a per-connection staging
table in bulk (PostgreSQL: COPY); one statement keeps those that change a stored value,
with the value they replace (``sql/usage_daily_changes.sql``), one writes them
(``sql/usage_daily_update.sql``, ``sql/usage_daily_insert.sql``), the window values
follow the changes
(``features.features_apply_changes``), and exactly the accounts whose stored usage
changed are marked for segment re-evaluation, all in the same transaction.
"""

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime

from cs_platform.db import dialect, load_sql, table_name
from customers.models import Account
from customers.services import accounts_mark_changed_matching

from . import features
from .models import USAGE_VALUE, MetricKind, UsageEventBatch, UsageMetric
from .settings_access import MAX_ROWS_PER_REQUEST, latest_allowed_day, usage_time_zone

DAILY_COLUMNS = ("account", "metric", "day", "value")
EVENT_COLUMNS = ("account", "metric", "at", "count")
STAGING_TABLE = "usage_daily_staging"
# Accounts looked up by external id per query (one IN list; bounded statement size).
ACCOUNT_LOOKUP_BATCH = 10_000
# For the ingesting transaction only: room for the window values' grouping of a full
# batch (the default 4 MB spilled to disk), and no hash joins: a batch meets the daily
# table and the window values by key (one lookup per row), where a hash join reads the
# whole table (every account's window values, for every request).
INGEST_SETTINGS = {"work_mem": "64MB", "enable_hashjoin": "off"}
# At most this many row errors are listed; the count says how many there were.
MAX_ERRORS_LISTED = 100
_MAX_VALUE = Decimal(10) ** (USAGE_VALUE["max_digits"] - USAGE_VALUE["decimal_places"])

Key = tuple[int, int, date]


@dataclass(frozen=True)
class CSVBody:
    """A CSV request body, parsed into rows by the view for the endpoint's columns."""

    text: str


@dataclass(frozen=True)
class IngestResult:
    rows: int
    changed_accounts: int
    duplicate_batch: bool = False


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


def _column(dict_rows: Sequence[dict | None], column: str) -> list[str]:
    """Each row's ``column`` as stripped text ("" when missing or not an object)."""
    return [_text(row.get(column)) if row is not None else "" for row in dict_rows]


def _resolve(rows: Sequence[Any], columns: Sequence[str], errors: RowErrors):
    """The rows that are objects (else None), and per row (account id, metric) or None,
    with errors for unknown ones."""
    metrics = _metrics()
    dict_rows = [row if isinstance(row, dict) else None for row in rows]
    account_texts = _column(dict_rows, "account")
    metric_texts = _column(dict_rows, "metric")
    accounts = _account_ids(account_texts)
    resolved = []
    for index, row in enumerate(dict_rows):
        if row is None:
            errors.add(index, f"expected an object with {', '.join(columns)}")
            resolved.append(None)
            continue
        account_id = accounts.get(account_texts[index])
        metric = metrics.get(metric_texts[index])
        if account_id is None:
            errors.add(index, f"account: unknown account {account_texts[index]!r}")
        if metric is None:
            errors.add(index, f"metric: unknown metric {metric_texts[index]!r}")
        resolved.append((account_id, metric) if account_id and metric else None)
    return dict_rows, resolved


_FOUR_PLACES = Decimal("0.0001")


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
    against the latest day accepted (one day ahead of today)."""

    def __init__(self, parse) -> None:
        self.parse = parse
        self.latest = latest_allowed_day()
        self.parsed: dict[str, date | None] = {}

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
            return day
        return None


def _iso_day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


def daily_rows_validate(rows: object) -> dict[Key, Decimal]:
    """The values by (account id, metric id, day) of a daily batch; a key sent twice keeps
    its last value. Raises ValidationError naming every bad row by index."""
    rows = _check_size(rows)
    errors = RowErrors()
    dict_rows, resolved = _resolve(rows, DAILY_COLUMNS, errors)
    days = _Days(_iso_day)
    day_texts = _column(dict_rows, "day")
    values: dict[Key, Decimal] = {}
    for index, row in enumerate(dict_rows):
        if row is None:
            continue
        day = days.checked(day_texts[index], "day", index, errors)
        value = _checked_value(row.get("value"), "value", index, errors)
        target = resolved[index]
        if target and day is not None and value is not None:
            values[(target[0], target[1].pk, day)] = value
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


def event_rows_validate(rows: object) -> dict[Key, Decimal]:
    """The counts to add by (account id, metric id, day): each event's day is the usage
    time zone's date of ``at``. Only count metrics take events."""
    rows = _check_size(rows)
    errors = RowErrors()
    dict_rows, resolved = _resolve(rows, EVENT_COLUMNS, errors)
    days = _Days(_event_day_parser())
    at_texts = _column(dict_rows, "at")
    totals: dict[Key, Decimal] = {}
    for index, row in enumerate(dict_rows):
        if row is None:
            continue
        target = resolved[index]
        if target and target[1].kind != MetricKind.COUNT:
            errors.add(index, f"metric: {target[1].key!r} is a gauge; send gauges as daily values")
            target = None
        day = days.checked(at_texts[index], "at", index, errors)
        count = _checked_value(row.get("count", 1), "count", index, errors)
        if target and day is not None and count is not None:
            key = (target[0], target[1].pk, day)
            totals[key] = totals.get(key, Decimal(0)) + count
    errors.raise_if_any()
    return totals


# --- writing ----------------------------------------------------------------------------


def _check_still_there(cursor, metric_ids: set[int]) -> None:
    """Every staged account and metric still exists: they were looked up before the usage
    writers' lock was taken, and deleting an account takes that lock (``usage.receivers``),
    so from here on none can go. One anti-join for the accounts (the daily table has no
    foreign-key constraints to check that row by row: ``models.DailyUsage``)."""
    cursor.execute(
        f"SELECT s.account_id FROM {STAGING_TABLE} s WHERE NOT EXISTS "
        f"(SELECT 1 FROM {table_name(Account)} a WHERE a.id = s.account_id) LIMIT 1"
    )
    gone = cursor.fetchone()
    if gone is None and UsageMetric.objects.filter(pk__in=metric_ids).count() == len(metric_ids):
        return
    what = f"account {gone[0]}" if gone else "a metric"
    raise ValidationError({"rows": [f"{what} was deleted while the batch was checked"]})


def _write(values: Mapping[Key, Decimal], *, add: bool) -> int:
    """Write ``values`` into the daily table and the changes into the window values
    (``usage.features``); mark the accounts whose stored usage changed. Returns how many
    accounts were marked. Call inside a transaction."""
    if not values:
        return 0
    db = dialect()
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING_TABLE} (account_id {db.bigint} "
            f"NOT NULL, metric_id {db.bigint} NOT NULL, day date NOT NULL, "
            f"value numeric(18, 4) NOT NULL){db.temp_table_suffix}"
        )
        features.changes_table_ensure(cursor)
        cursor.execute(f"DELETE FROM {STAGING_TABLE}")
        cursor.execute(f"DELETE FROM {features.CHANGES_TABLE}")
        db.copy_rows(
            cursor,
            STAGING_TABLE,
            ("account_id", "metric_id", "day", "value"),
            ((a, m, d, v) for (a, m, d), v in values.items()),
        )
        metric_ids = {metric_id for _, metric_id, _ in values}
        db.tune_transaction(cursor)
        db.set_local(cursor, INGEST_SETTINGS)
        features.usage_writers_lock()
        _check_still_there(cursor, metric_ids)
        as_of = features.features_as_of(metric_ids)
        new_value = "COALESCE(d.value, 0) + s.value" if add else "s.value"
        cursor.execute(load_sql("usage", "usage_daily_changes", new_value=new_value))
        if not cursor.rowcount:
            return 0
        db.analyze(cursor, features.CHANGES_TABLE)
        cursor.execute(load_sql("usage", "usage_daily_update"))
        cursor.execute(load_sql("usage", "usage_daily_insert"))
        pairs = {(account_id, metric_id) for account_id, metric_id, _ in values}
        features.features_apply_changes(cursor, as_of, one_day_per_pair=len(pairs) == len(values))
        changed = Account.objects.filter(
            id__in=RawSQL(f"SELECT account_id FROM {features.CHANGES_TABLE}", [])  # noqa: S611
        )
        marked = accounts_mark_changed_matching(accounts=changed)
    return marked


@transaction.atomic
def usage_daily_ingest(*, rows: object) -> IngestResult:
    """Validate and write a batch of daily values (a re-sent day replaces its value)."""
    values = daily_rows_validate(rows)
    changed = _write(values, add=False)
    return IngestResult(rows=len(rows), changed_accounts=changed)  # type: ignore[arg-type]


def usage_events_ingest(*, rows: object, idempotency_key: str | None) -> IngestResult:
    """Validate and add a batch of events to their days. With an ``idempotency_key``, a
    batch already applied under that key adds nothing (``duplicate_batch``)."""
    count = len(rows) if isinstance(rows, list) else 0
    totals = event_rows_validate(rows)
    with transaction.atomic():
        if idempotency_key:
            try:
                with transaction.atomic():
                    UsageEventBatch.objects.create(idempotency_key=idempotency_key, accepted=count)
            except IntegrityError:
                return IngestResult(rows=0, changed_accounts=0, duplicate_batch=True)
        changed = _write(totals, add=True)
    return IngestResult(rows=count, changed_accounts=changed)

"""Ingestion of daily usage and events (DESIGN 11): parse, validate every row (all or
nothing: any bad row is a 400 naming the rows by index), then write set-based.

Writing, under the usage writers' lock: a new day's batch (no stored row of its (metric,
day) pairs within its range of accounts, no day before the window values' day) is
copied straight into the daily table (PostgreSQL: COPY) and its accounts are marked for
segment re-evaluation (``_write_new_days``): today's rows reach the rules through their
join of today's row, so the window values have nothing to add. Any other batch goes into
a per-connection staging table in bulk; one statement keeps the rows that change a stored
value, with the value they replace (``sql/usage_daily_changes.sql``), one writes them
(``sql/usage_daily_update.sql``, ``sql/usage_daily_insert.sql``), the window values take
the changes of days before their day (``features.features_apply_changes``: late data),
and exactly the accounts whose stored usage changed are marked, all in the same
transaction.
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
from customers.services import accounts_mark_changed, accounts_mark_changed_matching

from . import features
from .models import USAGE_VALUE, DailyUsage, MetricKind, UsageEventBatch, UsageMetric
from .settings_access import MAX_ROWS_PER_REQUEST, latest_allowed_day, usage_time_zone

DAILY_COLUMNS = ("account", "metric", "day", "value")
EVENT_COLUMNS = ("account", "metric", "at", "count")
STAGING_TABLE = "usage_daily_staging"
STAGING_COLUMNS = ("account_id", "metric_id", "day", "value")
# Accounts looked up by external id per query (one IN list; bounded statement size).
ACCOUNT_LOOKUP_BATCH = 10_000
# For the ingesting transaction only: room for the window values' grouping of a full
# batch (the default 4 MB spilled to disk), and no hash joins: a batch meets the daily
# table and the window values by key (one lookup per row), where a hash join reads the
# whole table (every account's window values, for every request).
INGEST_SETTINGS = {"work_mem": "64MB", "enable_hashjoin": "off", "enable_memoize": "off"}
# A batch over at most this many (metric, day) pairs is checked for stored rows with one
# statement of that many index descents before anything is staged (a day's batch: one per
# metric); more pairs are staged first and checked by a join.
MAX_NEW_DAY_RANGES = 100
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


def _stage(cursor, values: Mapping[Key, Decimal | int], table: str = STAGING_TABLE) -> None:
    """Load the batch into ``table`` (the staging table, or the daily table itself for a
    new day's batch): on PostgreSQL one COPY of text made in one pass (ids, ISO days and
    numbers need no escaping), else the dialect's bulk insert."""
    db = dialect()
    if not db.copy_from_stdin:
        rows = ((a, m, d, v) for (a, m, d), v in values.items())
        db.copy_rows(cursor, table, STAGING_COLUMNS, rows)
        return
    iso = {day: day.isoformat() for day in {day for _, _, day in values}}
    text = "".join([f"{a}\t{m}\t{iso[d]}\t{v}\n" for (a, m, d), v in values.items()])
    db.copy_text(cursor, table, STAGING_COLUMNS, text)


def _ranges_stored(cursor, ranges: Mapping[tuple[int, int], list[int]]) -> bool:
    """Whether the daily table holds a row of some (metric, day) of ``ranges`` between its
    lowest and highest account: one index descent per (metric, day). The caller holds the
    usage writers' lock, so no other writer adds rows meanwhile."""
    # One EXISTS per range (each a range of the key), not one OR of them: the planner
    # read the OR of a day's five ranges with a scan of the table's pages (3.4 s).
    exists = (
        f"EXISTS (SELECT 1 FROM {table_name(DailyUsage)} WHERE metric_id = %s AND day = %s "
        "AND account_id BETWEEN %s AND %s)"
    )
    params = [
        value
        for (metric_id, day), (low, high) in ranges.items()
        for value in (metric_id, day, low, high)
    ]
    cursor.execute(f"SELECT 1 WHERE {' OR '.join([exists] * len(ranges))}", params)
    return cursor.fetchone() is not None


def _account_ranges(values: Mapping[Key, object]) -> dict[tuple[int, int], list[int]]:
    """The lowest and highest account of each (metric, day) of ``values``."""
    ranges: dict[tuple[int, int], list[int]] = {}
    for account_id, metric_id, day in values:
        bounds = ranges.get((metric_id, day))
        if bounds is None:
            ranges[(metric_id, day)] = [account_id, account_id]
        elif account_id < bounds[0]:
            bounds[0] = account_id
        elif account_id > bounds[1]:
            bounds[1] = account_id
    return ranges


def _write_new_days(cursor, values: Mapping[Key, Decimal | int]) -> int:
    """A batch with no stored row to replace or add to, and no day in the window values
    (a day's batch): its rows go straight into the daily table (no staging, no lookup of
    old values) and its accounts are marked. Returns how many accounts were marked. The
    caller holds the usage writers' lock and checked both conditions under it."""
    account_ids = sorted({account_id for account_id, _, _ in values})
    rows_sql, rows_params = dialect().id_rows(account_ids)
    cursor.execute(
        f"SELECT COUNT(*) FROM {table_name(Account)} WHERE id IN ({rows_sql})", rows_params
    )
    if cursor.fetchone()[0] != len(account_ids):
        raise ValidationError({"rows": ["an account was deleted while the batch was checked"]})
    _stage(cursor, values, table_name(DailyUsage))
    accounts_mark_changed(account_ids=account_ids)
    return len(account_ids)


def _one_day_per_pair(values: Mapping[Key, object]) -> bool:
    """Whether no (account, metric) of ``values`` has two days."""
    if len({day for _, _, day in values}) == 1:
        return True
    return len({(account_id, metric_id) for account_id, metric_id, _ in values}) == len(values)


def _write(values: Mapping[Key, Decimal | int], *, add: bool) -> int:
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
        metric_days = {(metric_id, day) for _, metric_id, day in values}
        metric_ids = {metric_id for metric_id, _ in metric_days}
        db.tune_transaction(cursor)
        db.set_local(cursor, INGEST_SETTINGS)
        features.usage_writers_lock()
        if UsageMetric.objects.filter(pk__in=metric_ids).count() != len(metric_ids):
            raise ValidationError({"rows": ["a metric was deleted while the batch was checked"]})
        # Only days before a metric's as_of are in its window values; today's (and
        # tomorrow's) rows are read live by the rules, so a day's batch has nothing to add.
        as_of = {
            metric_id: day
            for metric_id, day in features.features_as_of(metric_ids).items()
            if any(m == metric_id and d < day for m, d in metric_days)
        }
        if not as_of and len(metric_days) <= MAX_NEW_DAY_RANGES:
            ranges = _account_ranges(values)
            if not _ranges_stored(cursor, ranges):
                return _write_new_days(cursor, values)
        cursor.execute(f"DELETE FROM {STAGING_TABLE}")
        cursor.execute(f"DELETE FROM {features.CHANGES_TABLE}")
        _stage(cursor, values)
        _check_still_there(cursor, metric_ids)
        cursor.execute(load_sql("usage", "usage_daily_stored_days"))
        if cursor.fetchone() is None:  # a new day's batch: no row to look up, none to update
            cursor.execute(load_sql("usage", "usage_daily_changes_new_days"))
        else:
            new_value = "COALESCE(d.value, 0) + s.value" if add else "s.value"
            cursor.execute(load_sql("usage", "usage_daily_changes", new_value=new_value))
            if not cursor.rowcount:
                return 0
            cursor.execute(load_sql("usage", "usage_daily_update"))
        db.analyze(cursor, features.CHANGES_TABLE)
        cursor.execute(load_sql("usage", "usage_daily_insert"))
        if as_of:
            features.features_apply_changes(
                cursor, as_of, one_day_per_pair=_one_day_per_pair(values)
            )
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

"""Ingestion of daily usage and events (DESIGN 11): every row parsed and validated
(``usage.ingest_rows``; all or nothing: any bad row is a 400 naming the rows by index),
then written set-based.

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

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import itemgetter

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL

from cs_platform.db import dialect, load_sql, table_name
from customers.models import Account
from customers.services import accounts_mark_changed, accounts_mark_changed_matching

from . import features
from .ingest_rows import (  # noqa: F401 (the views' and the command's names)
    DAILY_COLUMNS,
    EVENT_COLUMNS,
    CSVBody,
    Key,
    daily_rows_validate,
    event_rows_validate,
    rows_from_csv,
)
from .models import DailyUsage, UsageEventBatch, UsageMetric

STAGING_TABLE = "usage_daily_staging"
STAGING_COLUMNS = ("account_id", "metric_id", "day", "value")
# For the ingesting transaction only: room for the window values' grouping of a full
# batch (the default 4 MB spilled to disk), and no hash joins: a batch meets the daily
# table and the window values by key (one lookup per row), where a hash join reads the
# whole table (every account's window values, for every request).
INGEST_SETTINGS = {"work_mem": "64MB", "enable_hashjoin": "off", "enable_memoize": "off"}
# The COPY of a batch is sent in texts of this many rows: the server loads one while the
# next is formatted.
COPY_CHUNK_ROWS = 10_000
# A batch over at most this many (metric, day) pairs is checked for stored rows with one
# statement of that many index descents before anything is staged (a day's batch: one per
# metric); more pairs are staged first and checked by a join.
MAX_NEW_DAY_RANGES = 100


@dataclass(frozen=True)
class IngestResult:
    rows: int
    changed_accounts: int
    duplicate_batch: bool = False


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
    new day's batch): on PostgreSQL one COPY of text (ids, ISO days and numbers need no
    escaping), else the dialect's bulk insert."""
    db = dialect()
    if not db.copy_from_stdin:
        rows = ((a, m, d, v) for (a, m, d), v in values.items())
        db.copy_rows(cursor, table, STAGING_COLUMNS, rows)
        return
    db.copy_text(cursor, table, STAGING_COLUMNS, _copy_texts(values))


def _copy_texts(values: Mapping[Key, Decimal | int]) -> Iterator[str]:
    """The batch in COPY's text format, ``COPY_CHUNK_ROWS`` rows a text (the server loads
    one while the next is made)."""
    iso = {day: day.isoformat() for day in {day for _, _, day in values}}
    items = list(values.items())
    for start in range(0, len(items), COPY_CHUNK_ROWS):
        chunk = items[start : start + COPY_CHUNK_ROWS]
        yield "".join([f"{a}\t{m}\t{iso[d]}\t{v}\n" for (a, m, d), v in chunk])


def _ranges_stored(cursor, metric_days: Iterable[tuple[int, date]], low: int, high: int) -> bool:
    """Whether the daily table holds a row of some (metric, day) of ``metric_days`` for an
    account between ``low`` and ``high``: one index descent per (metric, day). The caller
    holds the usage writers' lock, so no other writer adds rows meanwhile."""
    # One EXISTS per range (each a range of the key), not one OR of them: the planner
    # read the OR of a day's five ranges with a scan of the table's pages (3.4 s).
    exists = (
        f"EXISTS (SELECT 1 FROM {table_name(DailyUsage)} WHERE metric_id = %s AND day = %s "
        "AND account_id BETWEEN %s AND %s)"
    )
    pairs = sorted(metric_days)
    params = [value for metric_id, day in pairs for value in (metric_id, day, low, high)]
    cursor.execute(f"SELECT 1 WHERE {' OR '.join([exists] * len(pairs))}", params)
    return cursor.fetchone() is not None


def _write_new_days(cursor, values: Mapping[Key, Decimal | int], account_ids: list[int]) -> int:
    """A batch with no stored row to replace or add to, and no day in the window values
    (a day's batch): its accounts are marked and its rows go straight into the daily
    table (no staging, no lookup of old values). Returns how many accounts were marked.
    The caller holds the usage writers' lock and checked both conditions under it.
    ``account_ids``: the batch's accounts, in id order."""
    # Marking selects the accounts that exist: fewer marked than sent means one was
    # deleted after the batch was checked (the transaction is then rolled back whole).
    marked = accounts_mark_changed(account_ids=account_ids)
    if marked != len(account_ids):
        raise ValidationError({"rows": ["an account was deleted while the batch was checked"]})
    _stage(cursor, values, table_name(DailyUsage))
    return marked


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
            account_ids = set(map(itemgetter(0), values))
            if not _ranges_stored(cursor, metric_days, min(account_ids), max(account_ids)):
                return _write_new_days(cursor, values, sorted(account_ids))
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

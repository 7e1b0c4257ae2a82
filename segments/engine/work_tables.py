"""The engine's per-connection temporary tables: the batch of accounts a partial run
re-evaluates, and the diffs it writes from."""

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from cs_platform.db import dialect
from customers.models import Account

# Per-connection temporary tables (PostgreSQL: emptied at every commit).
DIFF_TABLE = "segments_recompute_diff"
BATCH_TABLE = "segments_eval_batch"
SWEEP_DIFF_TABLE = "segments_sweep_diff"
# A range of the recompute of every segment: each account's wanted segments as bitmask
# words (PostgreSQL; dropped at commit).
BITS_TABLE = "segments_range_bits"


def work_tables_ensure(cursor: Any) -> None:
    """Create this connection's work tables if needed (cheap: IF NOT EXISTS), and tune
    the current transaction for recompute statements."""
    db = dialect()
    db.tune_transaction(cursor)
    big, boolean, rows = db.bigint, db.boolean, db.temp_table_suffix
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {DIFF_TABLE} "
        f"(account_id {big} NOT NULL, entering {boolean} NOT NULL){rows}"
    )
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {BATCH_TABLE} (account_id {big} PRIMARY KEY){rows}"
    )
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {SWEEP_DIFF_TABLE} (segment_id {big} NOT NULL, "
        f"account_id {big} NOT NULL, entering {boolean} NOT NULL){rows}"
    )


def batch_fill(cursor: Any, account_ids: Iterable[int]) -> int:
    """Put ``account_ids`` into the batch table in one statement; returns the count."""
    ids = sorted({int(i) for i in account_ids})
    cursor.execute(f"DELETE FROM {BATCH_TABLE}")
    if not ids:
        return 0
    rows_sql, params = dialect().id_rows(ids)
    cursor.execute(f"INSERT INTO {BATCH_TABLE} (account_id) {rows_sql}", params)
    return len(ids)


def batch_accounts() -> QuerySet[Account]:
    """The accounts in this connection's batch table, as a queryset to filter on."""
    return Account.objects.filter(
        id__in=RawSQL(f"SELECT account_id FROM {BATCH_TABLE}", [])  # noqa: S611 (constant)
    )

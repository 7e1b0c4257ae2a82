"""The two ways demo rows reach the database: COPY where the database takes rows streamed
with ``COPY ... FROM STDIN`` (PostgreSQL: ids reserved from the sequence first, so
contracts and assignments can point at them), ``bulk_create`` elsewhere. Which one is the
dialect's call (``Dialect.copy_from_stdin``); every COPY goes through the dialect layer's
bulk loader (``Dialect.copy_rows``), which daily usage rows, many and narrow, use on both
databases."""

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model

from cs_platform.db import dialect, table_name
from customers.models import Account, Contract, ContractItem, CSMAssignment
from usage.models import DailyUsage

from .generator import ACCOUNT_COLUMNS, ASSIGNMENT_COLUMNS, CONTRACT_COLUMNS, Chunk

# Rows per INSERT statement when bulk_create is used (SQLite). SQLite allows 32766 bound parameters per statement and an account row has
# ~30 columns, so 500 rows stays well under that; bigger batches gain nothing measurable.
BULK_BATCH_SIZE = 500
USAGE_COLUMNS = ("account_id", "metric_id", "day", "value")


class BulkCreateWriter:
    """Any backend: ``bulk_create`` in batches; the database returns the account ids."""

    def write(self, chunk: Chunk) -> None:
        objects = [
            Account(**dict(zip(ACCOUNT_COLUMNS[1:], row[1:], strict=True)))
            for row in chunk.accounts
        ]
        Account.objects.bulk_create(objects, batch_size=BULK_BATCH_SIZE)
        ids = [obj.pk for obj in objects]
        for row, account_id in zip(chunk.accounts, ids, strict=True):
            row[0] = account_id
        Contract.objects.bulk_create(
            (
                Contract(
                    account_id=ids[row[0]], **dict(zip(CONTRACT_COLUMNS[1:], row[1:], strict=True))
                )
                for row in chunk.contracts
            ),
            batch_size=BULK_BATCH_SIZE,
        )
        CSMAssignment.objects.bulk_create(
            (
                CSMAssignment(
                    account_id=ids[row[0]],
                    **dict(zip(ASSIGNMENT_COLUMNS[1:], row[1:], strict=True)),
                )
                for row in chunk.assignments
            ),
            batch_size=BULK_BATCH_SIZE,
        )

    def write_usage(self, rows: Iterable[Sequence[Any]]) -> int:
        return write_usage_rows(rows)

    def finish(self) -> None:
        pass


class CopyWriter:
    """PostgreSQL: reserve account ids from the table's sequence, then stream every row
    with COPY (an order of magnitude faster than multi-row INSERTs)."""

    def __init__(self) -> None:
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at commit, the
        # server would queue one trigger event per row of a million-account seed. Checking
        # them as rows arrive costs the same and keeps the server's memory flat.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def write(self, chunk: Chunk) -> None:
        with connection.cursor() as wrapper:
            cursor = wrapper.cursor  # the psycopg cursor under Django's wrapper
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table_name(Account), len(chunk.accounts)],
            )
            ids = [row[0] for row in cursor.fetchall()]
            for row, account_id in zip(chunk.accounts, ids, strict=True):
                row[0] = account_id
                row[22] = json.dumps(row[22])  # traits
            _copy(wrapper, Account, ACCOUNT_COLUMNS, chunk.accounts)
            _copy(wrapper, Contract, CONTRACT_COLUMNS, _relink(chunk.contracts, ids))
            _copy(wrapper, CSMAssignment, ASSIGNMENT_COLUMNS, _relink(chunk.assignments, ids))

    def write_usage(self, rows: Iterable[Sequence[Any]]) -> int:
        return write_usage_rows(rows)

    def finish(self) -> None:
        # Fresh statistics, so the first queries on a freshly seeded million rows (segment
        # recomputes, benchmarks) get sensible plans without waiting for autovacuum.
        tables = (Account, Contract, ContractItem, CSMAssignment, DailyUsage)
        with connection.cursor() as cursor:
            for model in tables:
                cursor.execute(f"ANALYZE {table_name(model)}")
            # Back to Django's default (its foreign keys are INITIALLY DEFERRED) for the rest
            # of an enclosing transaction, such as a test's.
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


class _Counted:
    """An iterable that counts the rows it hands out."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self._rows:
            self.count += 1
            yield row


def _copy(
    cursor: Any, model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """``rows`` into ``model``'s table through the dialect layer's bulk loader (COPY)."""
    names = [dialect().quote(column) for column in columns]
    dialect().copy_rows(cursor, table_name(model), names, rows)


def write_usage_rows(rows: Iterable[Sequence[Any]]) -> int:
    """Daily usage rows in ``USAGE_COLUMNS`` order through the dialect layer's bulk loader
    (COPY on PostgreSQL, one ``executemany`` on SQLite: 4 narrow columns, where
    ``bulk_create`` would build a model object per row); returns how many were written."""
    counted = _Counted(rows)
    with connection.cursor() as cursor:
        dialect().copy_rows(cursor, table_name(DailyUsage), USAGE_COLUMNS, iter(counted))
    return counted.count


def _relink(rows: list[list[Any]], ids: list[int]) -> Iterator[list[Any]]:
    for row in rows:
        row[0] = ids[row[0]]
        yield row


def chunk_writer() -> BulkCreateWriter | CopyWriter:
    """The fastest writer the database offers (call inside the seeding transaction)."""
    return CopyWriter() if dialect().copy_from_stdin else BulkCreateWriter()

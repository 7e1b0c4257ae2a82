"""One ``Dialect`` per supported database; ``dialect()`` gives the current connection's."""

import json
from collections.abc import Sequence
from typing import Any

from django.db import NotSupportedError, connection
from django.db.models import Model


def table_name(model: type[Model]) -> str:
    """The quoted table name of ``model``, for hand-written SQL."""
    return connection.ops.quote_name(model._meta.db_table)


class Dialect:
    """What hand-written SQL needs to know about the database. The base class holds what
    both databases share; the subclasses hold the differences."""

    vendor = ""
    is_postgresql = False
    # Column types for temporary work tables.
    bigint = "bigint"
    boolean = "boolean"
    # Temporary tables keep their rows until the end of the transaction only.
    temp_table_suffix = ""

    def quote(self, name: str) -> str:
        return connection.ops.quote_name(name)

    def tune_transaction(self, cursor: Any) -> None:
        """Tune the current transaction for a long set-based statement (see PostgreSQL)."""

    def in_ids(self, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
        """``column IN ids`` as one parameter, however many ids."""
        raise NotImplementedError

    def days_until(self, sql: str, day_sql: str = "%s") -> str:
        """``sql - day`` in whole days (``day_sql``: a date parameter by default)."""
        raise NotImplementedError

    def money_text(self, sql: str) -> str:
        """Whole dollars with thousands separators: 120000.00 -> '120,000'."""
        raise NotImplementedError

    def date_text(self, sql: str) -> str:
        raise NotImplementedError

    def typed_row(self, columns: Sequence[tuple[str, str]]) -> str:
        """``SELECT %s AS name, ...`` for a derived table of parameter rows, each column
        typed (``(name, sql_type)``) where the database needs it to type a NULL."""
        raise NotImplementedError

    def xact_lock(self, key: int, *, shared: bool = False) -> None:
        """Take advisory lock ``key`` until the end of the transaction, where the database
        has more than one writer at a time."""

    @property
    def concurrent_reads(self) -> bool:
        """Whether independent read-only statements may run side by side, each on its own
        connection (never inside a transaction: the others would not see its rows)."""
        return False

    # --- playbooks: the renewal queue build and the renewal selectors ---------------------
    # ``xact_lock`` takes a real lock: writers holding one may insert rows they checked are
    # missing (NOT EXISTS). Without (SQLite: one writer at a time) they use ON CONFLICT.
    advisory_locks = False
    # A WITH clause may hold INSERT ... RETURNING whose rows later parts of it read.
    data_modifying_cte = False
    # SELECT DISTINCT ON (columns), i.e. ``QuerySet.distinct(*fields)``.
    distinct_on = False

    def set_local(self, cursor: Any, settings: dict[str, str]) -> None:
        """Change server ``settings`` for the rest of the transaction, where the database
        has them (PostgreSQL: SET LOCAL, all in one statement; SQLite has none)."""


class PostgreSQL(Dialect):
    vendor = "postgresql"
    is_postgresql = True
    temp_table_suffix = " ON COMMIT DELETE ROWS"

    def tune_transaction(self, cursor: Any) -> None:
        # JIT-compiling the long expressions of compiled rules and analytic statements
        # costs 0.1-2 s per statement, far more than running them. SET LOCAL: for this
        # transaction only (outside one it is a no-op with a warning).
        cursor.execute("SET LOCAL jit = off")

    def in_ids(self, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(%s)", [list(ids)]

    def days_until(self, sql: str, day_sql: str = "%s") -> str:
        return f"({sql} - CAST({day_sql} AS date))"

    def money_text(self, sql: str) -> str:
        return f"to_char({sql}, 'FM999,999,999,999,990')"

    def date_text(self, sql: str) -> str:
        return f"to_char({sql}, 'YYYY-MM-DD')"

    def typed_row(self, columns: Sequence[tuple[str, str]]) -> str:
        return "SELECT " + ", ".join(f"CAST(%s AS {kind}) AS {name}" for name, kind in columns)

    def xact_lock(self, key: int, *, shared: bool = False) -> None:
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(%s)", [key])

    @property
    def concurrent_reads(self) -> bool:
        return not connection.in_atomic_block

    # --- playbooks: the renewal queue build and the renewal selectors ---------------------
    advisory_locks = True
    data_modifying_cte = True
    distinct_on = True

    def set_local(self, cursor: Any, settings: dict[str, str]) -> None:
        calls = ", ".join("set_config(%s, %s, true)" for _ in settings)
        cursor.execute(f"SELECT {calls}", [part for pair in settings.items() for part in pair])


class SQLite(Dialect):
    vendor = "sqlite"
    bigint = "integer"
    boolean = "bool"

    def in_ids(self, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
        return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(ids))]

    def days_until(self, sql: str, day_sql: str = "%s") -> str:
        return f"CAST(julianday({sql}) - julianday({day_sql}) AS INTEGER)"

    def money_text(self, sql: str) -> str:
        return f"printf('%%,d', CAST(round({sql}) AS INTEGER))"

    def date_text(self, sql: str) -> str:
        return f"CAST({sql} AS TEXT)"

    def typed_row(self, columns: Sequence[tuple[str, str]]) -> str:
        return "SELECT " + ", ".join(f"%s AS {name}" for name, _ in columns)


_DIALECTS = {d.vendor: d() for d in (PostgreSQL, SQLite)}


def dialect(db_connection: Any = None) -> Dialect:
    """The dialect of ``db_connection`` (the default connection if None)."""
    vendor = (db_connection or connection).vendor
    try:
        return _DIALECTS[vendor]
    except KeyError:
        raise NotSupportedError(
            f"cs-platform supports PostgreSQL and SQLite, not {vendor}"
        ) from None

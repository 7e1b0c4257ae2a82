"""The ``Dialect`` base class: what hand-written SQL needs to know about a database, with
what PostgreSQL and SQLite share (the subclasses: ``postgresql``, ``sqlite``)."""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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

    def xact_locks(self, keys: Sequence[int], *, shared: bool = False) -> None:
        """Take advisory locks ``keys`` (in ascending order) until the end of the
        transaction, where the database has more than one writer at a time."""

    def copy_rows(
        self, cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Load ``rows`` into ``table`` in bulk (PostgreSQL: COPY; SQLite: executemany)."""
        marks = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    @property
    def concurrent_reads(self) -> bool:
        """Whether independent read-only statements may run side by side, each on its own
        connection (never inside a transaction: the others would not see its rows)."""
        return False

    # --- bulk loading (demo data) ---
    # Whether rows can be streamed with ``COPY table (columns) FROM STDIN`` through the
    # driver's cursor (an order of magnitude faster than multi-row INSERTs).
    copy_from_stdin = False

    def copy_text(
        self, cursor: Any, table: str, columns: Sequence[str], text: str | Iterable[str]
    ) -> None:
        """Load rows already in COPY's text format (where ``copy_from_stdin``): one text,
        or texts of whole lines each sent as soon as it is made."""
        raise NotSupportedError("COPY is PostgreSQL's")

    # --- rule engine: typed values of a JSON object's key (rules.compiler) ---

    def json_text(self, column: str, params: list, key: str) -> tuple[str, list]:
        """``column[key]`` as text; NULL unless it is a JSON string."""
        raise NotImplementedError

    def json_integer(self, column: str, params: list, key: str, bound: int) -> tuple[str, list]:
        """``column[key]`` as a bigint; NULL unless a JSON integer within ±``bound``."""
        raise NotImplementedError

    def json_decimal(self, column: str, params: list, key: str, pattern: str) -> tuple[str, list]:
        """``column[key]`` as a decimal: a JSON number, or a string matching ``pattern``."""
        raise NotImplementedError

    def json_date(self, column: str, params: list, key: str, pattern: str) -> tuple[str, list]:
        """``column[key]`` as a date: a JSON string matching ``pattern`` (an ISO date)."""
        raise NotImplementedError

    def json_boolean(self, column: str, params: list, key: str) -> tuple[str, list]:
        """``column[key]`` as a boolean; NULL unless JSON true or false."""
        raise NotImplementedError

    # --- segment analytics ---
    # Whether the settings of ``tune_transaction`` and ``tune_analytic_statement`` last only
    # for a transaction (SET LOCAL), so that a statement using them must run inside one.
    settings_need_transaction = False

    def tune_analytic_statement(
        self, cursor: Any, *, hash_joins: bool = False, sorted_groups: bool = False
    ) -> None:
        """Tune the current transaction for one read-only analytic statement that reads a
        few hundred thousand rows (see PostgreSQL). ``hash_joins``: no nested loops, for a
        statement whose row estimates are far too low; ``sorted_groups``: group by sorting
        rather than hashing."""

    # --- segments engine (membership diffs) ---
    # Data-modifying statements inside WITH: a membership diff and its writes in one
    # statement, the diff never written out and read back.
    data_modifying_ctes = False
    # Array columns with unnest: the many-segment diff compares each account's arrays.
    arrays = False
    # Bitwise operators and bit_or over bigints, array subscripts and unnest of several
    # arrays: a range of the recompute of every segment compares integer bitmasks
    # (``segments/sql/postgresql/segments_range_*``); without, the pairs diff.
    bitmasks = False
    # Appended to a SELECT of segment rows a range of the recompute of every segment
    # writes: a lock that waits for, and holds off, every other writer of their
    # memberships (they lock the rows FOR UPDATE), but neither the other ranges nor an
    # UPDATE of the segment's own fields. Empty with a single writer.
    key_share_lock = ""
    # Appended to a SELECT that takes rows (e.g. queue marks) no other transaction holds,
    # locking them, so concurrent workers share the rows; empty with a single writer.
    skip_locked = ""

    def id_rows(self, ids: Sequence[int]) -> tuple[str, list[Any]]:
        """A SELECT of ``ids`` as rows of one column, bound as one parameter."""
        raise NotImplementedError

    # A first computation into empty tables drops their secondary indexes and builds them
    # after the load (one sort each instead of one index insert per row, PostgreSQL's
    # "Populating a Database"); without, the indexes stay.
    bulk_load_without_indexes = False

    def table_lock_exclusive(self, cursor: Any, table: str, *, timeout_ms: int) -> None:
        """Lock ``table`` against every other reader and writer until the end of the
        transaction, waiting at most ``timeout_ms`` (else a database error)."""

    def text_rows(self, texts: Sequence[str]) -> tuple[str, list[Any]]:
        """``id_rows`` for text values (``column__in=RawSQL(...)`` of keys: one parameter
        where ``__in`` of a list binds, and the driver parses, one per value)."""
        raise NotImplementedError

    def analyze(self, cursor: Any, table: str) -> None:
        """Give the planner the row count of a freshly filled temporary table, where it
        has no statistics otherwise (and may pick a full scan of the tables joined)."""

    # --- playbooks: the renewal queue build and the renewal selectors ---------------------
    # ``xact_lock`` takes a real lock: writers holding one may insert rows they checked are
    # missing (NOT EXISTS). Without (SQLite: one writer at a time) they use ON CONFLICT.
    advisory_locks = False
    # SELECT DISTINCT ON (columns), i.e. ``QuerySet.distinct(*fields)``.
    distinct_on = False

    def set_local(self, cursor: Any, settings: dict[str, str]) -> None:
        """Change server ``settings`` for the rest of the transaction, where the database
        has them (PostgreSQL: SET LOCAL, all in one statement; SQLite has none)."""

    def current_settings(self, cursor: Any, names: Sequence[str]) -> dict[str, str]:
        """The current values of server settings ``names`` (to put back with
        ``set_local``); none on SQLite."""
        return {}

    @contextmanager
    def local_settings(self, cursor: Any, settings: dict[str, str]) -> Iterator[None]:
        """``set_local(settings)`` for the block, then the values before it put back (the
        transaction goes on). Not put back when the block raises: the transaction is
        then rolled back, and its settings with it."""
        saved = self.current_settings(cursor, list(settings))
        self.set_local(cursor, settings)
        yield
        self.set_local(cursor, saved)

    # Planner settings for a statement driven by a small keyed work table: index lookups
    # per row of it, not hash joins that read every row of the big tables it joins.
    index_join_settings: dict[str, str] = {}

    # --- bulk ingestion (the CRM import) ---

    def json_rows_select(self, columns: Sequence[tuple[str, str]]) -> str:
        """``SELECT col, ... FROM`` the rows of ONE parameter, a JSON array of objects keyed
        by column name; ``columns`` are ``(name, column type)``. One parameter however many
        rows: no per-value placeholder for the driver to parse. Ends with ``WHERE true``
        so that an ``ON CONFLICT`` clause may follow (SQLite needs it there)."""
        raise NotImplementedError

    # --- health scores (health.engine) ---
    # Column type of a JSON document in a work table, and the empty object as SQL.
    json_type = "text"
    empty_json = "'{}'"
    # Appended to a derived table's SELECT so the planner keeps it a separate step: its
    # columns (correlated subqueries) are computed once per row, however often the outer
    # SELECT names them (a subquery with OFFSET is never merged into its parent).
    keep_subquery = " LIMIT -1 OFFSET 0"
    # Appended to a SELECT of account rows that an UPDATE will write: lock them, skipping
    # rows another transaction holds (which then get their turn on a later run).
    skip_locked_for_write = ""

    def is_distinct(self, left: str, right: str) -> str:
        """``left`` and ``right`` differ, NULLs compared as values."""
        return f"{left} IS NOT {right}"

    def number(self, sql: str) -> str:
        """``sql`` as a number that divides without truncation."""
        return f"CAST({sql} AS REAL)"

    def round_to_integer(self, sql: str) -> str:
        """``sql`` (≥ 0) rounded half up to an integer."""
        return f"CAST(ROUND({sql}) AS INTEGER)"

    def json_object_without_nulls(self, pairs: Sequence[tuple[str, str]]) -> str:
        """A JSON object of ``(key, value SQL)`` pairs, leaving out the NULL values; keys are
        plain identifiers (checked by the caller)."""
        members = ", ".join(f"'{key}', {value}" for key, value in pairs)
        return f"json_patch('{{}}', json_object({members}))"

    def hundredths_as_number(self, sql: str) -> str:
        """An integer count of hundredths as a number with two decimals (8350 → 83.5)."""
        return f"({sql} / 100.0)"

    # Column type of a list of integers kept to be compared as one value (a row's measure
    # scores), and the SQL of such a list of integer expressions (NULL items kept, by
    # position): text here, built by concatenation.
    integer_list_type = "text"

    def integer_list(self, items: Sequence[str]) -> str:
        """One comparable value of the integer expressions ``items`` (NULLs included, by
        position): equal for two rows exactly when every item is."""
        parts = [f"COALESCE(CAST({item} AS TEXT), '-')" for item in items]
        return " || ',' || ".join(parts) if parts else "''"

    def latest_rows(self, *, columns: str, source: str, partition: str, order: str) -> str:
        """``SELECT columns`` of the first row of each ``partition`` of ``source`` (a table
        and its WHERE) in ``order`` (which must break ties)."""
        return (
            f"SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY "
            f"{partition} ORDER BY {order}) AS n FROM {source}) e WHERE e.n = 1"
        )

    def day_plus(self, sql: str, days: int) -> str:
        """The date ``sql`` plus ``days`` days (a date, as the date columns hold it)."""
        return f"date({sql}, '{int(days):+d} days')"

"""The PostgreSQL dialect."""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

from .base import Dialect


class PostgreSQL(Dialect):
    vendor = "postgresql"
    is_postgresql = True
    temp_table_suffix = " ON COMMIT DELETE ROWS"

    def tune_transaction(self, cursor: Any) -> None:
        # JIT-compiling the long expressions of compiled rules and analytic statements
        # costs 0.1-2 s per statement, far more than running them. SET LOCAL: for this
        # transaction only (outside one it is a no-op with a warning).
        cursor.execute("SET LOCAL jit = off")

    def copy_rows(
        self, cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def copy_text(
        self, cursor: Any, table: str, columns: Sequence[str], text: str | Iterable[str]
    ) -> None:
        """Load ``text``, rows already in COPY's text format (tab-separated, one per line),
        into ``table``: for callers that format their rows faster than row by row. Given
        several texts (each of whole lines), each is sent as soon as it is made, so the
        server loads one while the next is made."""
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for part in [text] if isinstance(text, str) else text:
                copy.write(part)

    def in_ids(self, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(%s)", [list(ids)]

    def json_rows_select(self, columns: Sequence[tuple[str, str]]) -> str:
        names = ", ".join(f"r.{self.quote(name)}" for name, _ in columns)
        types = ", ".join(f"{self.quote(name)} {kind}" for name, kind in columns)
        return f"SELECT {names} FROM jsonb_to_recordset(%s::jsonb) AS r({types}) WHERE true"

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

    def xact_locks(self, keys: Sequence[int], *, shared: bool = False) -> None:
        # One statement; unnest of the sorted array takes them in order (no deadlock
        # between two callers locking overlapping sets).
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {function}(k) FROM unnest(%s::bigint[]) AS k", [sorted(set(keys))]
            )

    @property
    def concurrent_reads(self) -> bool:
        return not connection.in_atomic_block

    # --- bulk loading (demo data) ---
    copy_from_stdin = True

    # --- rule engine: typed values of a JSON object's key (rules.compiler) ---
    # Each returns NULL, never an error, when the key is absent or its value does not
    # parse for the type: guards (the JSON type, a regular expression) come before casts.

    def json_text(self, column: str, params: list, key: str) -> tuple[str, list]:
        typeof, text = f"jsonb_typeof({column} -> %s)", f"({column} ->> %s)"
        return f"CASE WHEN {typeof} = 'string' THEN {text} END", [*params, key, *params, key]

    def json_integer(self, column: str, params: list, key: str, bound: int) -> tuple[str, list]:
        # A JSON number is an integer of at most 18 digits when its numeric value has
        # no decimals (jsonb prints numbers without exponents, so this is exactly the
        # text test of INTEGER_TEXT_RE) and is within the bound; several times cheaper
        # than the regular expression, which weighs on a pass over every account.
        typeof, number = f"jsonb_typeof({column} -> %s)", f"({column} -> %s)::numeric"
        key_params = [*params, key]
        return (
            f"CASE WHEN {typeof} = 'number' AND scale({number}) = 0 "
            f"AND abs({number}) <= %s THEN ({number})::bigint END",
            [*key_params, *key_params, *key_params, bound, *key_params],
        )

    def json_decimal(self, column: str, params: list, key: str, pattern: str) -> tuple[str, list]:
        typeof, text = f"jsonb_typeof({column} -> %s)", f"({column} ->> %s)"
        key_params = [*params, key]
        return (
            f"CASE WHEN {typeof} = 'number' THEN ({text})::numeric"
            f" WHEN {typeof} = 'string' AND {text} ~ %s THEN ({text})::numeric END",
            [*key_params, *key_params, *key_params, *key_params, pattern, *key_params],
        )

    def json_date(self, column: str, params: list, key: str, pattern: str) -> tuple[str, list]:
        typeof, text = f"jsonb_typeof({column} -> %s)", f"({column} ->> %s)"
        key_params = [*params, key]
        return (
            f"CASE WHEN {typeof} = 'string' AND {text} ~ %s THEN ({text})::date END",
            [*key_params, *key_params, pattern, *key_params],
        )

    def json_boolean(self, column: str, params: list, key: str) -> tuple[str, list]:
        typeof, text = f"jsonb_typeof({column} -> %s)", f"({column} ->> %s)"
        return (
            f"CASE WHEN {typeof} = 'boolean' THEN ({text})::boolean END",
            [*params, key, *params, key],
        )

    # --- segment analytics ---
    settings_need_transaction = True

    def tune_analytic_statement(
        self, cursor: Any, *, hash_joins: bool = False, sorted_groups: bool = False
    ) -> None:
        settings = {
            # Hash aggregates of a few hundred thousand rows spill to disk with the default
            # 4 MB.
            "work_mem": "64MB",
            # No parallel workers: the analytics page already runs its statements side by
            # side, and a parallel plan repeated its non-parallel parts (the grouping of the
            # events) in every worker: three times the CPU for the same answer
            # (bench/analytics.py).
            "max_parallel_workers_per_gather": "0",
        }
        if hash_joins:
            settings["enable_nestloop"] = "off"
        if sorted_groups:
            settings["enable_hashagg"] = "off"
        self.set_local(cursor, settings)

    # --- segments engine (membership diffs) ---
    data_modifying_ctes = True
    arrays = True
    bitmasks = True
    key_share_lock = " FOR KEY SHARE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def id_rows(self, ids: Sequence[int]) -> tuple[str, list[Any]]:
        return "SELECT unnest(%s::bigint[])", [list(ids)]

    def text_rows(self, texts: Sequence[str]) -> tuple[str, list[Any]]:
        return "SELECT unnest(%s::text[])", [list(texts)]

    def analyze(self, cursor: Any, table: str) -> None:
        cursor.execute(f"ANALYZE {table}")

    bulk_load_without_indexes = True

    def table_lock_exclusive(self, cursor: Any, table: str, *, timeout_ms: int) -> None:
        with self.local_settings(cursor, {"lock_timeout": f"{int(timeout_ms)}ms"}):
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")

    # --- playbooks: the renewal queue build and the renewal selectors ---------------------
    advisory_locks = True
    distinct_on = True

    def set_local(self, cursor: Any, settings: dict[str, str]) -> None:
        if not settings:
            return
        calls = ", ".join("set_config(%s, %s, true)" for _ in settings)
        cursor.execute(f"SELECT {calls}", [part for pair in settings.items() for part in pair])

    def current_settings(self, cursor: Any, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        cursor.execute(f"SELECT {', '.join('current_setting(%s)' for _ in names)}", list(names))
        return dict(zip(names, cursor.fetchone(), strict=True))

    index_join_settings = {"enable_hashjoin": "off", "enable_mergejoin": "off"}

    # --- health scores (health.engine) ---
    json_type = "jsonb"
    empty_json = "'{}'::jsonb"
    keep_subquery = " OFFSET 0"
    skip_locked_for_write = " FOR NO KEY UPDATE SKIP LOCKED"

    def is_distinct(self, left: str, right: str) -> str:
        return f"{left} IS DISTINCT FROM {right}"

    def number(self, sql: str) -> str:
        return f"CAST({sql} AS numeric)"

    def round_to_integer(self, sql: str) -> str:
        # ROUND(numeric) rounds half away from zero: half up for the values ≥ 0 given.
        return f"CAST(ROUND({sql}) AS bigint)"

    def json_object_without_nulls(self, pairs: Sequence[tuple[str, str]]) -> str:
        members = ", ".join(f"'{key}', {value}" for key, value in pairs)
        return f"jsonb_strip_nulls(jsonb_build_object({members}))"

    def hundredths_as_number(self, sql: str) -> str:
        # Exact, with two decimals (8350 → 83.50), and cheaper than a division and ROUND.
        return f"(CAST({sql} AS numeric) * 0.01)"

    # An integer array: built and compared several times faster than a text of the same
    # numbers (a full health run compares one per account).
    integer_list_type = "integer[]"

    def integer_list(self, items: Sequence[str]) -> str:
        return f"CAST(ARRAY[{', '.join(items)}] AS integer[])"

    def latest_rows(self, *, columns: str, source: str, partition: str, order: str) -> str:
        # DISTINCT ON: the planner estimates one row per group (a window function's "n = 1"
        # is estimated at a fraction of a percent of the rows, which made a full health run
        # sort every account to merge-join a hundred thousand entries).
        return (
            f"SELECT DISTINCT ON ({partition}) {columns} FROM {source} "
            f"ORDER BY {partition}, {order}"
        )

    def day_plus(self, sql: str, days: int) -> str:
        return f"({sql} + {int(days)})"

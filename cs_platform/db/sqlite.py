"""The SQLite dialect (the embedded default)."""

import json
from collections.abc import Sequence
from typing import Any

from .base import Dialect


class SQLite(Dialect):
    vendor = "sqlite"
    bigint = "integer"
    boolean = "bool"

    def in_ids(self, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
        return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(ids))]

    def json_rows_select(self, columns: Sequence[tuple[str, str]]) -> str:
        # json_extract gives an object or array as its JSON text (what a JSON column holds).
        names = ", ".join(f"json_extract(value, '$.\"{name}\"')" for name, _ in columns)
        return f"SELECT {names} FROM json_each(%s) WHERE true"

    def days_until(self, sql: str, day_sql: str = "%s") -> str:
        return f"CAST(julianday({sql}) - julianday({day_sql}) AS INTEGER)"

    def money_text(self, sql: str) -> str:
        return f"printf('%%,d', CAST(round({sql}) AS INTEGER))"

    def date_text(self, sql: str) -> str:
        return f"CAST({sql} AS TEXT)"

    def typed_row(self, columns: Sequence[tuple[str, str]]) -> str:
        return "SELECT " + ", ".join(f"%s AS {name}" for name, _ in columns)

    # --- bulk loading (demo data) ---
    copy_from_stdin = False

    # --- rule engine: typed values of a JSON object's key (rules.compiler) ---

    def json_text(self, column: str, params: list, key: str) -> tuple[str, list]:
        jtype, extract = f"json_type({column}, %s)", f"json_extract({column}, %s)"
        path = [*params, f'$."{key}"']
        return f"CASE WHEN {jtype} = 'text' THEN {extract} END", [*path, *path]

    def json_integer(self, column: str, params: list, key: str, bound: int) -> tuple[str, list]:
        jtype, extract = f"json_type({column}, %s)", f"json_extract({column}, %s)"
        path = [*params, f'$."{key}"']
        return (
            f"CAST(CASE WHEN {jtype} = 'integer' AND {extract} BETWEEN -{int(bound)}"
            f" AND {int(bound)} THEN {extract} END AS INTEGER)",
            [*path, *path, *path],
        )

    def json_decimal(self, column: str, params: list, key: str, pattern: str) -> tuple[str, list]:
        # CAST gives the result NUMERIC affinity, so Decimal parameters (bound as text
        # by Django) are compared as numbers.
        jtype, extract = f"json_type({column}, %s)", f"json_extract({column}, %s)"
        path = [*params, f'$."{key}"']
        return (
            f"CAST(CASE WHEN {jtype} IN ('integer', 'real') THEN {extract}"
            f" WHEN {jtype} = 'text' AND {extract} REGEXP %s THEN {extract} END AS NUMERIC)",
            [*path, *path, *path, *path, pattern, *path],
        )

    def json_date(self, column: str, params: list, key: str, pattern: str) -> tuple[str, list]:
        # SQLite keeps dates as ISO text; a valid ISO date string compares as a date.
        jtype, extract = f"json_type({column}, %s)", f"json_extract({column}, %s)"
        path = [*params, f'$."{key}"']
        return (
            f"CASE WHEN {jtype} = 'text' AND {extract} REGEXP %s THEN {extract} END",
            [*path, *path, pattern, *path],
        )

    def json_boolean(self, column: str, params: list, key: str) -> tuple[str, list]:
        jtype = f"json_type({column}, %s)"
        return f"CASE {jtype} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END", [*params, f'$."{key}"']

    # --- segment analytics ---
    # No planner settings to tune: the base class's no-op tuning, and no transaction for it.

    # --- segments engine (membership diffs) ---
    def id_rows(self, ids: Sequence[int]) -> tuple[str, list[Any]]:
        return "SELECT value FROM json_each(%s)", [json.dumps(list(ids))]

    def text_rows(self, texts: Sequence[str]) -> tuple[str, list[Any]]:
        return "SELECT value FROM json_each(%s)", [json.dumps(list(texts))]

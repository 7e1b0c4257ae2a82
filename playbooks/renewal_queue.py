"""The set-based statements behind ``services.renewal_queue_rebuild``.

Each statement handles every affected row at once (INSERT ... SELECT, UPDATE ... FROM,
DELETE ... WHERE id IN (SELECT ...)); nothing loops over rows in Python. Loops here run over
the renewal windows (a handful). ``scope`` is either None (every contract: the full diff)
or a list of contract ids (the delta: only contracts that changed or crossed a window
boundary since the previous build). Written for PostgreSQL and SQLite (3.35+).
"""

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection

from customers.models import Account, Contract, ContractStatus

from .models import RenewalQueueEntry, RenewalWindow, Task, TaskSource, TaskStatus

# Renewal tasks are due two weeks after the contract enters the window (or on the renewal
# date, when that comes first).
RENEWAL_TASK_DUE_IN_DAYS = 14


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@dataclass
class RebuildCounts:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    tasks_created: int = 0
    tasks_reassigned: int = 0
    scope_size: int | None = None  # None: full diff
    # (label, seconds, rows) per statement, for the benchmark and the logs.
    timings: list[tuple[str, float, int]] = field(default_factory=list)


class _Statements:
    """Builds vendor-specific SQL for one rebuild (one ``today``, one ``now``)."""

    def __init__(self, *, today: date, now: datetime, scope: list[int] | None) -> None:
        self.today = today
        self.now = now
        self.scope = scope
        self.pg = connection.vendor == "postgresql"
        self.E = _table(RenewalQueueEntry)
        self.C = _table(Contract)
        self.A = _table(Account)
        self.W = _table(RenewalWindow)
        self.T = _table(Task)

    # --- vendor helpers ---------------------------------------------------------------------

    def in_scope(self, column: str) -> tuple[str, list[Any]]:
        """`AND column IN scope` (empty when the scope is everything)."""
        if self.scope is None:
            return "", []
        if self.pg:
            return f" AND {column} = ANY(%s)", [self.scope]
        return f" AND {column} IN (SELECT value FROM json_each(%s))", [json.dumps(self.scope)]

    def money_text(self, sql: str) -> str:
        """Whole dollars with thousands separators: 120000.00 -> '120,000'."""
        if self.pg:
            return f"to_char({sql}, 'FM999,999,999,999,990')"
        return f"printf('%%,d', CAST(round({sql}) AS INTEGER))"

    def date_text(self, sql: str) -> str:
        return f"to_char({sql}, 'YYYY-MM-DD')" if self.pg else f"CAST({sql} AS TEXT)"

    def days_until(self, sql: str) -> str:
        """``sql - today`` in days (``today`` is the first parameter of the expression)."""
        if self.pg:
            return f"({sql} - CAST(%s AS date))"
        return f"CAST(julianday({sql}) - julianday(%s) AS INTEGER)"

    def int_text(self, sql: str) -> str:
        return f"CAST({sql} AS TEXT)"

    # --- statements -------------------------------------------------------------------------

    def reassign_tasks(self) -> tuple[str, list[Any]]:
        """Open renewal tasks still held by the entry's previous owner follow the account's
        new owner. Runs before the entries are updated, since it reads their old ``csm``; a
        task a manager handed to someone else is left alone."""
        # The scope on both sides lets the planner use the contract indexes of both tables.
        scope_sql, scope_params = self.in_scope("e.contract_id")
        task_scope_sql, task_scope_params = self.in_scope(f"{self.T}.contract_id")
        scope_sql, scope_params = scope_sql + task_scope_sql, scope_params + task_scope_params
        sql = (
            f"UPDATE {self.T} SET assignee_id = a.owner_id, updated_at = %s "
            f"FROM {self.E} e JOIN {self.A} a ON a.id = e.account_id "
            f"WHERE {self.T}.source = %s AND {self.T}.status IN (%s, %s) "
            f"AND {self.T}.contract_id = e.contract_id "
            f"AND e.csm_id IS DISTINCT FROM a.owner_id "
            f"AND {self.T}.assignee_id IS NOT DISTINCT FROM e.csm_id{scope_sql}"
        )
        params = [self.now, TaskSource.RENEWAL, TaskStatus.OPEN, TaskStatus.SNOOZED]
        return sql, params + scope_params

    def windows_table(self, windows: list[RenewalWindow]) -> tuple[str, list[Any]]:
        """A derived table ``(id, last_day)`` of the active windows: a contract is inside
        window ``id`` when today <= end_date <= last_day."""
        date_sql = "CAST(%s AS date)" if self.pg else "%s"
        if not windows:
            if self.pg:
                return (
                    "(SELECT CAST(NULL AS bigint) AS id, CAST(NULL AS date) AS last_day "
                    "WHERE 1 = 0)",
                    [],
                )
            return "(SELECT NULL AS id, NULL AS last_day WHERE 1 = 0)", []
        rows = " UNION ALL ".join(f"SELECT %s AS id, {date_sql} AS last_day" for _ in windows)
        params: list[Any] = []
        for window in windows:
            params += [window.id, self.today + timedelta(days=window.days)]
        return f"({rows})", params

    def delete_stale(self, windows: list[RenewalWindow]) -> tuple[str, list[Any]]:
        """Entries whose contract is no longer active, left its window, or whose window was
        switched off; overdue entries whose contract is no longer overdue."""
        outer_sql, outer_params = self.in_scope(f"{self.E}.contract_id")
        scope_sql, scope_params = self.in_scope("e.contract_id")
        contract_sql, contract_params = self.in_scope("c.id")
        scope_sql, scope_params = scope_sql + contract_sql, scope_params + contract_params
        windows_sql, windows_params = self.windows_table(windows)
        sql = (
            f"DELETE FROM {self.E} WHERE 1 = 1{outer_sql} AND id IN (SELECT e.id FROM {self.E} e "
            f"JOIN {self.C} c ON c.id = e.contract_id "
            f"LEFT JOIN {windows_sql} w ON w.id = e.window_id "
            f"WHERE (c.status <> %s "
            f"OR (e.window_id IS NULL AND c.end_date >= %s) "
            f"OR (e.window_id IS NOT NULL AND (w.id IS NULL OR c.end_date < %s "
            f"OR c.end_date > w.last_day))){scope_sql})"
        )
        params = [*outer_params, *windows_params, ContractStatus.ACTIVE, self.today, self.today]
        return sql, [*params, *scope_params]

    def update_changed(self) -> tuple[str, list[Any]]:
        """Entries whose owner, ARR or renewal date no longer match the contract/account."""
        scope_sql, scope_params = self.in_scope("c.id")
        entry_sql, entry_params = self.in_scope(f"{self.E}.contract_id")
        scope_sql, scope_params = scope_sql + entry_sql, scope_params + entry_params
        sql = (
            f"UPDATE {self.E} SET csm_id = a.owner_id, arr = c.arr, renewal_date = c.end_date, "
            f"account_id = c.account_id, computed_at = %s "
            f"FROM {self.C} c JOIN {self.A} a ON a.id = c.account_id "
            f"WHERE {self.E}.contract_id = c.id{scope_sql} "
            f"AND ({self.E}.csm_id IS DISTINCT FROM a.owner_id OR {self.E}.arr <> c.arr "
            f"OR {self.E}.renewal_date <> c.end_date OR {self.E}.account_id <> c.account_id)"
        )
        return sql, [self.now, *scope_params]

    def insert_window_entries(self, windows: list[RenewalWindow]) -> tuple[str, list[Any]]:
        """Active contracts inside T-N (0 <= end_date - today <= N) without an entry, for
        every active window at once.

        Existing entries are skipped by ON CONFLICT DO NOTHING (one unique-index probe per
        candidate), not by a NOT EXISTS anti-join: on a freshly emptied table the planner
        would pick a nested loop over a sequential scan of the table being filled, which
        turns a first build quadratic."""
        scope_sql, scope_params = self.in_scope("c.id")
        windows_sql, windows_params = self.windows_table(windows)
        widest = self.today + timedelta(days=max(w.days for w in windows))
        sql = (
            f"INSERT INTO {self.E} "
            f"(contract_id, account_id, window_id, csm_id, arr, renewal_date, overdue, computed_at) "
            f"SELECT c.id, c.account_id, w.id, a.owner_id, c.arr, c.end_date, %s, %s "
            f"FROM {self.C} c JOIN {windows_sql} w ON c.end_date <= w.last_day "
            f"JOIN {self.A} a ON a.id = c.account_id "
            f"WHERE c.status = %s AND c.end_date >= %s AND c.end_date <= %s{scope_sql} "
            f"ON CONFLICT DO NOTHING"
        )
        params = [False, self.now, *windows_params, ContractStatus.ACTIVE, self.today, widest]
        return sql, [*params, *scope_params]

    def insert_overdue_entries(self) -> tuple[str, list[Any]]:
        """Active contracts whose end_date has passed, without an overdue entry."""
        scope_sql, scope_params = self.in_scope("c.id")
        sql = (
            f"INSERT INTO {self.E} "
            f"(contract_id, account_id, window_id, csm_id, arr, renewal_date, overdue, computed_at) "
            f"SELECT c.id, c.account_id, NULL, a.owner_id, c.arr, c.end_date, %s, %s "
            f"FROM {self.C} c JOIN {self.A} a ON a.id = c.account_id "
            f"WHERE c.status = %s AND c.end_date < %s{scope_sql} "
            f"ON CONFLICT DO NOTHING"
        )
        return sql, [True, self.now, ContractStatus.ACTIVE, self.today, *scope_params]

    def insert_tasks(self) -> tuple[str, list[Any]]:
        """One renewal task per (contract, window), for the entries this build wrote
        (``computed_at`` = its timestamp; entries and tasks commit together, so no entry
        is left without its task). The partial unique index on renewal tasks' (contract,
        window), whatever their status, plus ON CONFLICT DO NOTHING make it exactly once
        under reruns and concurrent builds, and keep a done or cancelled task from being
        created again."""
        scope_sql, scope_params = self.in_scope("e.contract_id")
        due = self.today + timedelta(days=RENEWAL_TASK_DUE_IN_DAYS)
        nl = "%s"  # newline, as a parameter: portable across vendors
        money = self.money_text("e.arr")
        renews = self.date_text("e.renewal_date")
        title = (
            f"'Renewal prep: ' || a.name || ', renews ' || {renews} || ', $' || {money} || ' ARR'"
        )
        description = (
            f"'Account: ' || a.name || {nl} "
            f"|| 'Renewal date: ' || {renews} || ' (' || "
            f"{self.int_text(self.days_until('e.renewal_date'))} || ' days left, window ' "
            f"|| COALESCE(NULLIF(w.name, ''), 'T-' || {self.int_text('w.days')}) || ')' || {nl} "
            f"|| 'ARR: $' || {money} || {nl} "
            f"|| 'Health score: ' || COALESCE({self.int_text('a.health_score')}, 'unknown') "
            f"|| {nl} || 'Open tickets: ' || {self.int_text('a.open_tickets')} || {nl} "
            f"|| 'Auto-renew: ' || CASE WHEN c.auto_renew THEN 'yes' ELSE 'no' END"
        )
        sql = (
            f"INSERT INTO {self.T} (account_id, assignee_id, title, description, due_date, "
            f"status, source, contract_id, window_id, created_at, updated_at) "
            f"SELECT e.account_id, e.csm_id, {title}, {description}, "
            f"CASE WHEN e.renewal_date < %s THEN e.renewal_date ELSE %s END, "
            f"%s, %s, e.contract_id, e.window_id, %s, %s "
            f"FROM {self.E} e JOIN {self.A} a ON a.id = e.account_id "
            f"JOIN {self.W} w ON w.id = e.window_id JOIN {self.C} c ON c.id = e.contract_id "
            f"WHERE e.window_id IS NOT NULL AND e.computed_at = %s{scope_sql} "
            f"ON CONFLICT DO NOTHING"
        )
        params = [
            "\n",  # title has no parameters; description's in order of appearance:
            self.today,
            "\n",
            "\n",
            "\n",
            "\n",
            due,
            due,
            TaskStatus.OPEN,
            TaskSource.RENEWAL,
            self.now,
            self.now,
            self.now,
            *scope_params,
        ]
        return sql, params


def run_statements(*, today: date, now: datetime, scope: list[int] | None) -> RebuildCounts:
    """Apply the diff for ``scope`` in the caller's transaction; returns the row counts."""
    windows = list(RenewalWindow.objects.filter(is_active=True).order_by("-days"))
    statements = _Statements(today=today, now=now, scope=scope)
    counts = RebuildCounts(scope_size=None if scope is None else len(scope))
    with connection.cursor() as cursor:

        def execute(label: str, statement: tuple[str, list[Any]]) -> int:
            started = time.perf_counter()
            cursor.execute(*statement)
            rows = max(cursor.rowcount, 0)
            counts.timings.append((label, time.perf_counter() - started, rows))
            return rows

        counts.tasks_reassigned = execute("reassign tasks", statements.reassign_tasks())
        counts.deleted = execute("delete stale entries", statements.delete_stale(windows))
        counts.updated = execute("update changed entries", statements.update_changed())
        if windows:
            counts.inserted += execute(
                "insert window entries", statements.insert_window_entries(windows)
            )
        counts.inserted += execute("insert overdue entries", statements.insert_overdue_entries())
        counts.tasks_created = execute("insert renewal tasks", statements.insert_tasks())
    return counts

"""The set-based statements behind ``services.renewal_queue_rebuild``.

Each statement handles every affected row at once (INSERT ... SELECT, UPDATE ... FROM,
DELETE ... WHERE NOT EXISTS (...)); nothing loops over rows in Python. Loops here run over
the renewal windows (a handful). ``scope`` is either None (every contract: the full diff)
or a list of contract ids (the delta: only contracts that changed or crossed a window
boundary since the previous build); ``changed``, the part of the scope whose contract or
account row changed, is all that the owner and entry updates need to look at, and
``leaving`` (changed or became overdue) all that can have entries to delete. Written for
PostgreSQL and SQLite (3.35+); on PostgreSQL the entries and their tasks are inserted by one
statement (a data-modifying CTE, which SQLite lacks).
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

# PostgreSQL settings for the rest of the build's transaction (set_config(..., true) is SET
# LOCAL). JIT would compile the high-cost statements of a full diff (tens of milliseconds or
# more) and saves nothing on these simple scans and joins. work_mem keeps the hashes and
# sorts of a full build (about 200k contracts and their accounts) in memory instead of temp
# files. The commit does not wait for its WAL (~300 MB on a first build) to be flushed to
# disk: a server crash within a fraction of a second after it can lose the whole build,
# never part of it, and nothing that depends on it (a later synchronous commit, e.g. a CSM
# completing one of its tasks, flushes it too); the next rebuild redoes it.
PG_SETTINGS = (
    "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true), "
    "set_config('synchronous_commit', 'off', true)"
)

# The PostgreSQL advisory lock that serializes the writers of renewal entries and renewal
# tasks: a build holds it exclusively for its transaction, a renewal task created by hand
# shares it. So on PostgreSQL the build inserts plain rows that it checked are missing (NOT
# EXISTS), not ON CONFLICT DO NOTHING, whose speculative insertion cost 0.4 s per table of
# a million-contract first build. SQLite has one writer at a time and keeps ON CONFLICT.
RENEWAL_WRITERS_LOCK = 0x52454E57  # "RENW"


def renewal_writers_lock(*, shared: bool = False) -> None:
    """Take the renewal writers' lock until the end of the current transaction."""
    if connection.vendor != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [RENEWAL_WRITERS_LOCK])


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

    def __init__(
        self,
        *,
        today: date,
        now: datetime,
        scope: list[int] | None,
        changed: list[int] | None = None,
        leaving: list[int] | None = None,
    ) -> None:
        self.today = today
        self.now = now
        self.scope = scope
        self.changed = scope if changed is None else changed
        self.leaving = scope if leaving is None else leaving
        self.pg = connection.vendor == "postgresql"
        self.E = _table(RenewalQueueEntry)
        self.C = _table(Contract)
        self.A = _table(Account)
        self.W = _table(RenewalWindow)
        self.T = _table(Task)

    # --- vendor helpers ---------------------------------------------------------------------

    def in_scope(self, column: str, part: str = "scope") -> tuple[str, list[Any]]:
        """`AND column IN scope` (or its ``part``: "changed" or "leaving"; empty when the
        scope is everything)."""
        ids = getattr(self, part)
        if ids is None:
            return "", []
        if self.pg:
            return f" AND {column} = ANY(%s)", [ids]
        return f" AND {column} IN (SELECT value FROM json_each(%s))", [json.dumps(ids)]

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

    def missing_only(self, table: str, match: str) -> tuple[str, str]:
        """(condition, conflict clause) that keep an INSERT ... SELECT to the rows ``s``
        that have no row ``x`` in ``table`` matching ``match``: a NOT EXISTS probe on
        PostgreSQL, where builds hold the writers' lock; ON CONFLICT DO NOTHING on SQLite."""
        if self.pg:
            return f" AND NOT EXISTS (SELECT 1 FROM {table} x WHERE {match})", ""
        return "", " ON CONFLICT DO NOTHING"

    # --- statements -------------------------------------------------------------------------

    def reassign_tasks(self) -> tuple[str, list[Any]]:
        """Open renewal tasks still held by the entry's previous owner follow the account's
        new owner. Runs before the entries are updated, since it reads their old ``csm``; a
        task a manager handed to someone else is left alone."""
        # The scope on both sides lets the planner use the contract indexes of both tables.
        scope_sql, scope_params = self.in_scope("e.contract_id", "changed")
        task_scope_sql, task_scope_params = self.in_scope(f"{self.T}.contract_id", "changed")
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

    def windows_table(
        self, windows: list[RenewalWindow], *, overdue: bool = False
    ) -> tuple[str, list[Any]]:
        """A derived table ``(id, first_day, last_day, label)`` of the active windows: a
        contract is inside window ``id`` when first_day (today) <= end_date <= last_day.
        With ``overdue``, one more row with a NULL id stands for the overdue entries
        (end_date before today, no lower bound)."""
        rows: list[tuple[int | None, date, date, str]] = [
            (w.id, self.today, self.today + timedelta(days=w.days), str(w)) for w in windows
        ]
        if overdue:
            rows.append((None, date.min, self.today - timedelta(days=1), ""))
        if self.pg:  # typed, so that a NULL id alone is still a bigint
            row_sql = (
                "SELECT CAST(%s AS bigint) AS id, CAST(%s AS date) AS first_day, "
                "CAST(%s AS date) AS last_day, CAST(%s AS text) AS label"
            )
        else:
            row_sql = "SELECT %s AS id, %s AS first_day, %s AS last_day, %s AS label"
        if not rows:
            return f"({row_sql} WHERE 1 = 0)", [None, None, None, None]
        return f"({' UNION ALL '.join(row_sql for _ in rows)})", [v for row in rows for v in row]

    def delete_stale(self, windows: list[RenewalWindow]) -> tuple[str, list[Any]]:
        """Entries no longer wanted: their contract is gone (the entries' contract is not a
        database foreign key), is no longer active, or is outside the entry's window (or
        the window was switched off); overdue entries whose contract is no longer overdue.
        One pass over the scope's entries, each kept when its contract is still inside its
        row of the windows table (the overdue row for entries without a window). A delta
        looks only at the contracts that can have entries to delete (``leaving``)."""
        scope_sql, scope_params = self.in_scope(f"{self.E}.contract_id", "leaving")
        windows_sql, windows_params = self.windows_table(windows, overdue=True)
        sql = (
            f"DELETE FROM {self.E} WHERE 1 = 1{scope_sql} AND NOT EXISTS (SELECT 1 "
            f"FROM {self.C} c JOIN {windows_sql} w ON w.id = {self.E}.window_id "
            f"OR (w.id IS NULL AND {self.E}.window_id IS NULL) "
            f"WHERE c.id = {self.E}.contract_id AND c.status = %s "
            f"AND c.end_date >= w.first_day AND c.end_date <= w.last_day)"
        )
        return sql, [*scope_params, *windows_params, ContractStatus.ACTIVE]

    def update_changed(self) -> tuple[str, list[Any]]:
        """Entries whose owner, ARR or renewal date no longer match the contract/account."""
        scope_sql, scope_params = self.in_scope("c.id", "changed")
        entry_sql, entry_params = self.in_scope(f"{self.E}.contract_id", "changed")
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

    def entry_source(self, windows: list[RenewalWindow]) -> tuple[str, list[Any]]:
        """Every entry the queue should hold for the scope, as a SELECT: active contracts
        inside each active window (window_id set) or past their end_date (window_id NULL),
        with the account and window fields the task text needs. One range scan of the
        contracts' (status, end_date) index and one join to the accounts serve both kinds."""
        scope_sql, scope_params = self.in_scope("c.id")
        windows_sql, windows_params = self.windows_table(windows, overdue=True)
        last_day = self.today + timedelta(days=max((w.days for w in windows), default=-1))
        sql = (
            f"SELECT c.id AS contract_id, c.account_id, w.id AS window_id, "
            f"a.owner_id AS csm_id, c.arr, c.end_date AS renewal_date, c.auto_renew, "
            f"a.name AS account_name, a.health_score, a.open_tickets, w.label AS window_label "
            f"FROM {self.C} c JOIN {windows_sql} w "
            f"ON c.end_date >= w.first_day AND c.end_date <= w.last_day "
            f"JOIN {self.A} a ON a.id = c.account_id "
            f"WHERE c.status = %s AND c.end_date <= %s{scope_sql}"
        )
        return sql, [*windows_params, ContractStatus.ACTIVE, last_day, *scope_params]

    def insert_entries(self, source: str) -> tuple[str, list[Any]]:
        """Entries of ``source`` (rows aliased ``s``) that do not exist yet.

        PostgreSQL (under the writers' lock): a NOT EXISTS probe of the (contract, window)
        index per candidate. SQLite: ON CONFLICT DO NOTHING; ``WHERE 1 = 1`` keeps it from
        reading the ON of ON CONFLICT as a join condition."""
        guard, conflict = self.missing_only(
            self.E,
            "x.contract_id = s.contract_id AND COALESCE(x.window_id, 0) = COALESCE(s.window_id, 0)",
        )
        sql = (
            f"INSERT INTO {self.E} "
            f"(contract_id, account_id, window_id, csm_id, arr, renewal_date, overdue, computed_at) "
            f"SELECT s.contract_id, s.account_id, s.window_id, s.csm_id, s.arr, s.renewal_date, "
            f"s.window_id IS NULL, %s FROM {source} WHERE 1 = 1{guard}{conflict}"
        )
        return sql, [self.now]

    def insert_tasks(self, source: str, *, condition: str = "") -> tuple[str, list[Any]]:
        """One renewal task per (contract, window) row of ``source`` (rows aliased ``s``,
        columns as in ``entry_source``; overdue rows are skipped; ``condition``, SQL starting
        with AND, narrows them) that has none, whatever its status: a done or cancelled task
        is not created again. The unique (contract, window) index makes it exactly once under
        reruns and concurrent builds; the missing tasks are found by NOT EXISTS under the
        writers' lock (PostgreSQL) or skipped by ON CONFLICT DO NOTHING (SQLite)."""
        due = self.today + timedelta(days=RENEWAL_TASK_DUE_IN_DAYS)
        nl = "%s"  # newline, as a parameter: portable across vendors
        money = self.money_text("s.arr")
        renews = self.date_text("s.renewal_date")
        title = (
            f"'Renewal prep: ' || s.account_name || ', renews ' || {renews} || ', $' || {money} "
            f"|| ' ARR'"
        )
        description = (
            f"'Account: ' || s.account_name || {nl} "
            f"|| 'Renewal date: ' || {renews} || ' (' || "
            f"{self.int_text(self.days_until('s.renewal_date'))} || ' days left, window ' "
            f"|| s.window_label || ')' || {nl} "
            f"|| 'ARR: $' || {money} || {nl} "
            f"|| 'Health score: ' || COALESCE({self.int_text('s.health_score')}, 'unknown') "
            f"|| {nl} || 'Open tickets: ' || {self.int_text('s.open_tickets')} || {nl} "
            f"|| 'Auto-renew: ' || CASE WHEN s.auto_renew THEN 'yes' ELSE 'no' END"
        )
        guard, conflict = self.missing_only(
            self.T, "x.contract_id = s.contract_id AND x.window_id = s.window_id"
        )
        sql = (
            f"INSERT INTO {self.T} (account_id, assignee_id, title, description, due_date, "
            f"status, source, contract_id, window_id, created_at, updated_at) "
            f"SELECT s.account_id, s.csm_id, {title}, {description}, "
            f"CASE WHEN s.renewal_date < %s THEN s.renewal_date ELSE %s END, "
            f"%s, %s, s.contract_id, s.window_id, %s, %s "
            f"FROM {source} WHERE s.window_id IS NOT NULL{condition}{guard}{conflict}"
        )
        params = [
            # title has no parameters; description's in order of appearance:
            *("\n", self.today, "\n", "\n", "\n", "\n"),
            *(due, due, TaskStatus.OPEN, TaskSource.RENEWAL, self.now, self.now),
        ]
        return sql, params

    def insert_entries_and_tasks(self, windows: list[RenewalWindow]) -> tuple[str, list[Any]]:
        """PostgreSQL: the missing entries and their tasks in one statement, returning
        (entries inserted, tasks created). The contracts and accounts are read once, into
        ``wanted``, and the tasks are made for exactly the entries this statement inserts:

        - a delta joins the entry insert's RETURNING rows back to ``wanted`` (a few thousand
          rows, hashed);
        - a full diff takes the rows of ``wanted`` that had no entry, as the entry insert
          does: every part of the statement sees the entries as they were before it, and
          under the writers' lock nobody else inserts any meanwhile. On a first build this
          spares sorting both sides of a 190k-row join (~0.15 s of a million contracts); on
          a delta it costs a second index probe per row (~2.5 ms of 50).
        """
        source_sql, source_params = self.entry_source(windows)
        entries_sql, entries_params = self.insert_entries("wanted s")
        if self.scope is None:
            tasks_sql, tasks_params = self.insert_tasks(
                "wanted s",
                condition=(
                    f" AND NOT EXISTS (SELECT 1 FROM {self.E} y "
                    f"WHERE y.contract_id = s.contract_id AND y.window_id = s.window_id)"
                ),
            )
        else:
            tasks_sql, tasks_params = self.insert_tasks(
                "new_entries n JOIN wanted s "
                "ON s.contract_id = n.contract_id AND s.window_id = n.window_id"
            )
        # MATERIALIZED: ``wanted`` is read twice and must be computed once.
        sql = (
            f"WITH wanted AS MATERIALIZED ({source_sql}), "
            f"new_entries AS ({entries_sql} RETURNING contract_id, window_id), "
            f"new_tasks AS ({tasks_sql} RETURNING 1) "
            f"SELECT (SELECT count(*) FROM new_entries), (SELECT count(*) FROM new_tasks)"
        )
        return sql, [*source_params, *entries_params, *tasks_params]

    def written_entries(self) -> tuple[str, list[Any]]:
        """SQLite: the entries this build wrote (``computed_at`` = its timestamp: inserted
        or updated), shaped like ``entry_source``, for ``insert_tasks``."""
        scope_sql, scope_params = self.in_scope("e.contract_id")
        sql = (
            f"(SELECT e.contract_id, e.account_id, e.window_id, e.csm_id, e.arr, "
            f"e.renewal_date, c.auto_renew, a.name AS account_name, a.health_score, "
            f"a.open_tickets, COALESCE(NULLIF(w.name, ''), 'T-' || w.days) AS window_label "
            f"FROM {self.E} e JOIN {self.A} a ON a.id = e.account_id "
            f"JOIN {self.W} w ON w.id = e.window_id JOIN {self.C} c ON c.id = e.contract_id "
            f"WHERE e.computed_at = %s{scope_sql}) s"
        )
        return sql, [self.now, *scope_params]


def run_statements(
    *,
    today: date,
    now: datetime,
    windows: list[RenewalWindow],
    scope: list[int] | None,
    changed: list[int] | None = None,
    leaving: list[int] | None = None,
) -> RebuildCounts:
    """Apply the diff of the active ``windows`` for ``scope`` in the caller's transaction,
    which holds the writers' lock (``renewal_writers_lock``); returns the row counts.
    ``changed`` (None: all of ``scope``) is the part of the scope whose contract or account
    changed; only it can need reassigned tasks or updated entries. ``leaving`` (None: all of
    ``scope``) is the part that can have entries to delete. Statements with nothing in scope
    are not sent."""
    statements = _Statements(today=today, now=now, scope=scope, changed=changed, leaving=leaving)
    counts = RebuildCounts(scope_size=None if scope is None else len(scope))
    if scope == []:
        return counts
    with connection.cursor() as cursor:

        def execute(label: str, statement: tuple[str, list[Any]]) -> int:
            started = time.perf_counter()
            cursor.execute(*statement)
            rows = max(cursor.rowcount, 0)
            counts.timings.append((label, time.perf_counter() - started, rows))
            return rows

        if statements.pg:
            cursor.execute(PG_SETTINGS)
        if statements.changed != []:
            # Before the entries are updated: it reads their previous owner.
            counts.tasks_reassigned = execute("reassign tasks", statements.reassign_tasks())
        if statements.leaving != []:
            counts.deleted = execute("delete stale entries", statements.delete_stale(windows))
        if statements.changed != []:
            counts.updated = execute("update changed entries", statements.update_changed())
        if statements.pg:
            if scope is None:
                # The missing entries and tasks by hash (or merge) anti-joins: planned from
                # the statistics of a queue that was empty, a nested loop would scan the
                # entries table once per candidate while this statement fills it.
                cursor.execute("SELECT set_config('enable_nestloop', 'off', true)")
            execute("insert entries and tasks", statements.insert_entries_and_tasks(windows))
            counts.inserted, counts.tasks_created = cursor.fetchone()
            if scope is None:
                cursor.execute("SELECT set_config('enable_nestloop', 'on', true)")
            counts.timings[-1] = (*counts.timings[-1][:2], counts.inserted + counts.tasks_created)
        else:
            source_sql, source_params = statements.entry_source(windows)
            entries_sql, entries_params = statements.insert_entries(f"({source_sql}) s")
            counts.inserted = execute(
                "insert entries", (entries_sql, entries_params + source_params)
            )
            written_sql, written_params = statements.written_entries()
            tasks_sql, tasks_params = statements.insert_tasks(written_sql)
            counts.tasks_created = execute(
                "insert tasks", (tasks_sql, tasks_params + written_params)
            )
    return counts

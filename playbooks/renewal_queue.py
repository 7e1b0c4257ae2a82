"""The set-based statements behind ``services.renewal_queue_rebuild``.

The diff is one pass: the rows the queue should hold joined once to the entries written,
each row classified (insert, update, delete, tasks to reassign), and every class applied
from that one classified set (``renewal_diff.sql``); each statement handles every affected
row at once, and nothing loops over rows in Python. Loops here run over
the renewal windows (a handful). ``scope`` is either None (every contract: the full diff)
or a list of contract ids (the delta: only contracts that changed or crossed a window
boundary since the previous build); ``changed``, the part of the scope whose contract or
account row changed, is all that the owner and entry updates need to look at, and
``leaving`` (changed or became overdue) all that can have entries to delete. Written for
PostgreSQL and SQLite (3.39+, for FULL JOIN); on PostgreSQL the whole diff, with the tasks
of the new entries, is one statement (data-modifying CTEs, which SQLite lacks; there the
classified rows go to a temporary table). The statements themselves are named
files under ``playbooks/sql/`` (``renewal_*.sql``), each listing its parameters; the parts
that differ by database come from ``cs_platform.db.dialect``.
"""

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection

from cs_platform.db import dialect, load_sql, table_name
from customers.models import Account, Contract, ContractStatus

from .models import (
    RenewalQueueEntry,
    RenewalWindow,
    Task,
    TaskSource,
    TaskStatus,
    TaskStatusChange,
)
from .renewal_steps import apply_in_steps

# Renewal tasks are due two weeks after the contract enters the window (or on the renewal
# date, when that comes first); an overdue renewal's task is due the day it is made.
RENEWAL_TASK_DUE_IN_DAYS = 14
# The overdue renewal task's title reads "Overdue renewal: ACME, ended 2027-03-01, …".
OVERDUE_TITLE = ("Overdue renewal: ", ", ended ")
# The history note of a renewal task closed because its contract got a tighter window's
# task: "Closed: the renewal moved into T-90, which has its own task."
SUPERSEDED_NOTE = (
    "Closed: the renewal moved into ",
    "the overdue stage",
    ", which has its own task.",
)

# Settings for the rest of the build's transaction, where the database has them
# (PostgreSQL; ``Dialect.tune_transaction`` also turns JIT off, which would compile the
# high-cost statements of a full diff, tens of milliseconds or more, and saves nothing on
# these simple scans and joins). work_mem keeps the hashes and sorts of a full build (about
# 200k contracts and their accounts) in memory instead of temp files. The commit does not
# wait for its WAL (~300 MB on a first build) to be flushed to disk: a server crash within
# a fraction of a second after it can lose the whole build, never part of it, and nothing
# that depends on it (a later synchronous commit, e.g. a CSM completing one of its tasks,
# flushes it too); the next rebuild redoes it.
BUILD_SETTINGS = {"work_mem": "64MB", "synchronous_commit": "off"}

# The advisory lock that serializes the writers of renewal entries and renewal tasks: a
# build holds it exclusively for its transaction, a renewal task created by hand shares
# it. So where the database has advisory locks (PostgreSQL) the build inserts plain rows
# that it checked are missing (NOT EXISTS), not ON CONFLICT DO NOTHING, whose speculative
# insertion cost 0.4 s per table of a million-contract first build. SQLite has one writer
# at a time and keeps ON CONFLICT.
RENEWAL_WRITERS_LOCK = 0x52454E57  # "RENW"


def renewal_writers_lock(*, shared: bool = False) -> None:
    """Take the renewal writers' lock until the end of the current transaction."""
    dialect().xact_lock(RENEWAL_WRITERS_LOCK, shared=shared)


def _statement(name: str, **parts: str) -> str:
    """Statement ``name`` of ``playbooks/sql/`` with its ``{parts}`` filled in; the
    files' comment lines are for readers and are not sent."""
    text = load_sql("playbooks", name)
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).format(**parts)


@dataclass
class RebuildCounts:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    tasks_created: int = 0
    tasks_reassigned: int = 0
    tasks_closed: int = 0  # open renewal tasks replaced by a tighter window's
    scope_size: int | None = None  # None: full diff
    # (label, seconds, rows) per statement, for the benchmark and the logs.
    timings: list[tuple[str, float, int]] = field(default_factory=list)


class RenewalStatements:
    """The statements of one rebuild (one ``today``, one ``now``, one scope), as (SQL,
    parameters) pairs, read from ``playbooks/sql/renewal_*.sql`` and completed with the
    current database's fragments (``cs_platform.db.dialect``)."""

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
        self.dialect = dialect()
        self.tables = {
            "entry": table_name(RenewalQueueEntry),
            "contract": table_name(Contract),
            "account": table_name(Account),
            "window": table_name(RenewalWindow),
            "task": table_name(Task),
            "change": table_name(TaskStatusChange),
        }

    # --- fragments --------------------------------------------------------------------------

    def in_scope(self, column: str, part: str = "scope") -> tuple[str, list[Any]]:
        """`AND column IN scope` (or its ``part``: "changed" or "leaving"; empty when the
        scope is everything)."""
        ids = getattr(self, part)
        if ids is None:
            return "", []
        condition, params = self.dialect.in_ids(column, ids)
        return f" AND {condition}", params

    def missing_only(self, table: str, match: str) -> dict[str, str]:
        """The ``missing_only`` and ``on_conflict`` parts that keep an INSERT ... SELECT to
        the rows ``s`` that have no row ``x`` in ``table`` matching ``match``: a NOT EXISTS
        probe where builds hold the writers' lock (advisory locks); ON CONFLICT DO NOTHING
        on SQLite."""
        if self.dialect.advisory_locks:
            probe = f" AND NOT EXISTS (SELECT 1 FROM {table} x WHERE {match})"
            return {"missing_only": probe, "on_conflict": ""}
        return {"missing_only": "", "on_conflict": " ON CONFLICT DO NOTHING"}

    def window_bounds(
        self, windows: list[RenewalWindow], *, overdue: bool = False
    ) -> tuple[str, list[Any]]:
        """A derived table ``(id, first_day, last_day, label, days)`` of the active
        windows: a contract is inside window ``id`` when first_day (today) <= end_date <=
        last_day. With ``overdue``, one more row with a NULL id (and days -1, tighter than
        any window) stands for the overdue entries (end_date before today, no lower
        bound)."""
        rows: list[tuple[int | None, date, date, str, int]] = [
            (w.id, self.today, self.today + timedelta(days=w.days), str(w), w.days) for w in windows
        ]
        if overdue:
            rows.append((None, date.min, self.today - timedelta(days=1), "", -1))
        # Typed where the database needs it, so that a NULL id alone is still a bigint.
        row_sql = self.dialect.typed_row(
            [
                ("id", self.dialect.bigint),
                ("first_day", "date"),
                ("last_day", "date"),
                ("label", "text"),
                ("days", "integer"),
            ]
        )
        if not rows:
            return f"({row_sql} WHERE 1 = 0)", [None, None, None, None, None]
        return f"({' UNION ALL '.join(row_sql for _ in rows)})", [v for row in rows for v in row]

    # --- statements -------------------------------------------------------------------------

    def wanted_entries(
        self, windows: list[RenewalWindow], *, account_fields: bool = True
    ) -> tuple[str, list[Any]]:
        """Every entry the queue should hold for the scope, as a SELECT
        (renewal_wanted_entries.sql); without ``account_fields``, not the account's name,
        health score and open tickets (the owner then comes from an index alone)."""
        scope_sql, scope_params = self.in_scope("c.id")
        bounds_sql, bounds_params = self.window_bounds(windows, overdue=True)
        last_day = self.today + timedelta(days=max((w.days for w in windows), default=-1))
        fields = (
            " a.name AS account_name, a.health_score, a.open_tickets," if account_fields else ""
        )
        sql = _statement(
            "renewal_wanted_entries",
            **self.tables,
            scope=scope_sql,
            window_bounds=bounds_sql,
            account_fields=fields,
        )
        return sql, [*bounds_params, ContractStatus.ACTIVE, last_day, *scope_params]

    def insert_entries(
        self, source: str, *, condition: str = "", guarded: bool = True
    ) -> tuple[str, list[Any]]:
        """Entries of ``source`` (rows aliased ``s``, narrowed by ``condition``) that do
        not exist yet (renewal_insert_entries.sql); the caller adds the source's
        parameters. ``guarded``: skip the rows whose entry exists (a NOT EXISTS probe or ON
        CONFLICT); without, the caller knows they are missing (the diff's 'i' rows)."""
        guard = self.missing_only(
            self.tables["entry"],
            "x.contract_id = s.contract_id AND COALESCE(x.window_id, 0) = COALESCE(s.window_id, 0)",
        )
        if not guarded:
            guard = {"missing_only": "", "on_conflict": ""}
        sql = _statement(
            "renewal_insert_entries", **self.tables, source=source, condition=condition, **guard
        )
        return sql, [self.now]

    def insert_tasks(
        self,
        source: str,
        *,
        tightest: str,
        condition: str = "",
        source_params: list[Any] | None = None,
    ) -> tuple[str, list[Any]]:
        """The renewal task of each renewal among the rows of ``source`` (rows aliased
        ``s``, columns as in ``wanted_entries``; ``tightest``, SQL starting with AND, keeps
        each contract's tightest row; ``condition`` narrows them further) that has none
        (renewal_insert_tasks.sql): its tightest window's task, or the overdue renewal
        task; none while a tighter window's task is open. The missing tasks are found by
        NOT EXISTS under the writers' lock or skipped by ON CONFLICT DO NOTHING.
        ``source_params`` are the parameters of ``source``."""
        due = self.today + timedelta(days=RENEWAL_TASK_DUE_IN_DAYS)
        guard = self.missing_only(
            self.tables["task"],
            "x.contract_id = s.contract_id AND x.source = 'renewal' "
            "AND COALESCE(x.window_id, 0) = COALESCE(s.window_id, 0)",
        )
        sql = _statement(
            "renewal_insert_tasks",
            **self.tables,
            source=source,
            tightest=tightest,
            condition=condition,
            renews=self.dialect.date_text("s.renewal_date"),
            arr=self.dialect.money_text("s.arr"),
            days_left=self.dialect.days_until("s.renewal_date"),
            **guard,
        )
        params = [
            *OVERDUE_TITLE,
            # The description's, in order (days left: once for overdue, once in a window).
            *("\n", self.today, self.today, "\n", "\n", "\n", "\n"),
            *(self.today, due, due, TaskStatus.OPEN, TaskSource.RENEWAL, self.now, self.now),
            *(source_params or []),
            *(TaskStatus.OPEN, TaskStatus.SNOOZED, TaskSource.RENEWAL),
        ]
        return sql, params

    def tightest_entry(self) -> str:
        """``AND`` no stored entry of the same contract is tighter than ``s`` (where the
        entries are written before the tasks: SQLite)."""
        return (
            f" AND NOT EXISTS (SELECT 1 FROM {self.tables['entry']} t "
            f"LEFT JOIN {self.tables['window']} tw ON tw.id = t.window_id "
            f"WHERE t.contract_id = s.contract_id AND COALESCE(tw.days, -1) < s.window_days)"
        )

    def close_superseded(self) -> list[tuple[str, tuple[str, list[Any]]]]:
        """The two statements (history rows, then the update) that close the other open
        renewal tasks of the contracts that got a renewal task in this build
        (renewal_close_superseded*.sql)."""
        scope_y, params_y = self.in_scope("y.contract_id")
        history = _statement("renewal_close_superseded_history", **self.tables, scope=scope_y)
        close = _statement("renewal_close_superseded", **self.tables, scope=scope_y)
        match = [TaskSource.RENEWAL, self.now, TaskSource.RENEWAL]
        match += [TaskStatus.OPEN, TaskStatus.SNOOZED, *params_y]
        return [
            (
                "superseded tasks' history",
                (history, [TaskStatus.CANCELLED, self.now, *SUPERSEDED_NOTE, *match]),
            ),
            ("close superseded tasks", (close, [TaskStatus.CANCELLED, self.now, *match])),
        ]

    def tightest_window(self, windows: list[RenewalWindow]) -> tuple[str, list[Any]]:
        """``AND`` no active window tighter than ``s``'s row also holds its renewal date: s
        is its contract's tightest wanted row (the windows are all [today, today + N], and
        the overdue row is tighter than any)."""
        bounds_sql, bounds_params = self.window_bounds(windows)
        return (
            f" AND NOT EXISTS (SELECT 1 FROM {bounds_sql} t WHERE t.days < s.window_days "
            f"AND s.renewal_date >= t.first_day AND s.renewal_date <= t.last_day)",
            bounds_params,
        )

    def diff(self, windows: list[RenewalWindow]) -> tuple[str, list[Any]]:
        """The classified rows of the diff, as a SELECT (renewal_diff.sql): one join of
        the wanted rows with the written entries, each row to insert ('i'), update ('u')
        or delete ('d'), with what the task reassignment needs."""
        contract = "COALESCE(s.contract_id, e.contract_id)"
        changed_sql, changed_params = self.condition(contract, "changed")
        leaving_sql, leaving_params = self.condition("d.contract_id", "leaving")
        wanted_sql, wanted_params = self.wanted_entries(windows, account_fields=False)
        entry_scope, entry_params = self.in_scope("x.contract_id")
        sql = _statement(
            "renewal_diff",
            **self.tables,
            changed=changed_sql,
            leaving=leaving_sql,
            wanted=wanted_sql,
            entry_scope=entry_scope,
        )
        return sql, [*changed_params, *wanted_params, *entry_params, *leaving_params]

    def condition(self, column: str, part: str) -> tuple[str, list[Any]]:
        """``column IN`` the ``part`` of the scope ("changed" or "leaving"), or ``1 = 1``
        for a full diff."""
        ids = getattr(self, part)
        if ids is None:
            return "1 = 1", []
        # A set (hashed once, whatever its size) rather than a list tested per row: the
        # conditions are evaluated on every row of the join, not by an index.
        rows_sql, params = self.dialect.id_rows(ids)
        return f"{column} IN ({rows_sql})", params

    def apply_diff(self) -> list[tuple[str, tuple[str, list[Any]]]]:
        """The statements that apply the classes of ``renewal_diff`` (the CTE, or the
        temporary table of that name), labelled, in order: tasks reassigned (reading the
        entries' old owners), entries deleted, entries updated."""
        reassign = _statement("renewal_diff_reassign_tasks", **self.tables)
        delete = _statement("renewal_diff_delete", **self.tables)
        update = _statement("renewal_diff_update", **self.tables)
        return [
            (
                "reassign tasks",
                (reassign, [self.now, TaskSource.RENEWAL, TaskStatus.OPEN, TaskStatus.SNOOZED]),
            ),
            ("delete stale entries", (delete, [])),
            ("update changed entries", (update, [self.now])),
        ]

    def diff_in_one_statement(self, windows: list[RenewalWindow]) -> tuple[str, list[Any]]:
        """Where a WITH clause may write (PostgreSQL): the diff computed once and every
        class applied from it, with the tasks of the inserted entries, in one statement
        (renewal_apply_diff.sql), returning (reassigned, deleted, updated, inserted,
        tasks created)."""
        diff_sql, diff_params = self.diff(windows)
        (_, reassign), (_, delete), (_, update) = self.apply_diff()
        entries_sql, entries_params = self.insert_entries(
            "renewal_diff s", condition=" AND s.kind = 'i'", guarded=False
        )
        tightest_sql, tightest_params = self.tightest_window(windows)
        # The account fields of the task texts, looked up for the inserted rows only.
        tasks_sql, tasks_params = self.insert_tasks(
            "(SELECT d.*, a.name AS account_name, a.health_score, a.open_tickets "
            f"FROM renewal_diff d JOIN {self.tables['account']} a ON a.id = d.account_id "
            "WHERE d.kind = 'i') s",
            tightest=tightest_sql,
            source_params=tightest_params,
        )
        sql = _statement(
            "renewal_apply_diff",
            diff=diff_sql,
            reassign=reassign[0],
            delete=delete[0],
            update=update[0],
            insert_entries=entries_sql,
            insert_tasks=tasks_sql,
        )
        params = [*diff_params, *reassign[1], *delete[1], *update[1]]
        return sql, [*params, *entries_params, *tasks_params]

    def written_entries(self) -> tuple[str, list[Any]]:
        """Where entries and tasks are inserted apart (SQLite): the entries this build
        wrote, shaped like ``wanted_entries`` (renewal_written_entries.sql)."""
        scope_sql, scope_params = self.in_scope("e.contract_id")
        sql = _statement("renewal_written_entries", **self.tables, scope=scope_sql)
        return f"({sql}) s", [self.now, *scope_params]


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
    ``scope``) is the part that can have entries to delete.

    The diff is one pass (renewal_diff.sql): the wanted rows joined once to the written
    entries, each row classified, every class applied from that one classified set. On
    PostgreSQL that is one statement (with the tasks of the new entries); on SQLite the
    classified rows go to a temporary table that the statements read. Then, where tasks
    were created, the tasks they supersede are closed."""
    statements = RenewalStatements(
        today=today, now=now, scope=scope, changed=changed, leaving=leaving
    )
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

        statements.dialect.tune_transaction(cursor)
        statements.dialect.set_local(cursor, BUILD_SETTINGS)
        first_build = scope is None and not RenewalQueueEntry.objects.exists()
        # On a first build with no open renewal task yet (a new book), the build's tasks,
        # one per contract, are the only open ones: nothing can be superseded.
        superseding = not first_build or _open_renewal_tasks_exist()
        if statements.dialect.data_modifying_ctes:
            if (
                scope is None
                and not first_build
                and not _full_diff_has_rows(statements, windows, counts)
            ):
                return counts
            if first_build:
                # The missing tasks by hash anti-joins: planned from the statistics of a
                # task table that was empty, a nested loop would scan it once per new
                # entry while this statement fills it. (Not on other full diffs: their
                # few new rows look up their accounts and tasks by index.)
                statements.dialect.set_local(cursor, {"enable_nestloop": "off"})
            execute("diff and apply (one pass)", statements.diff_in_one_statement(windows))
            (
                counts.tasks_reassigned,
                counts.deleted,
                counts.updated,
                counts.inserted,
                counts.tasks_created,
            ) = cursor.fetchone()
            if first_build:
                statements.dialect.set_local(cursor, {"enable_nestloop": "on"})
            label, seconds, _ = counts.timings[-1]
            rows = counts.tasks_reassigned + counts.deleted + counts.updated
            counts.timings[-1] = (label, seconds, rows + counts.inserted + counts.tasks_created)
        else:
            apply_in_steps(statements, windows, counts, cursor, execute)
        if counts.tasks_created and superseding:
            history, close = statements.close_superseded()
            execute(*history)
            counts.tasks_closed = execute(*close)
    return counts


def _full_diff_has_rows(
    statements: RenewalStatements, windows: list[RenewalWindow], counts: RebuildCounts
) -> bool:
    """Whether a full diff has anything to do, by the classified rows alone, read-only.

    The weekly full diff is a safety net: the daily deltas keep the queue right, so it
    usually finds nothing. A statement that writes never runs in parallel on PostgreSQL; a
    read-only count of the same classified rows does, so a full diff with nothing to do
    costs one parallel read of the contracts and the queue, and writes nothing. When it
    finds rows, the one-pass statement reads them again (one more read of a diff that has
    writing to do anyway)."""
    diff_sql, diff_params = statements.diff(windows)
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(f"SELECT count(*) FROM ({diff_sql}) d", diff_params)
        (rows,) = cursor.fetchone()
    counts.timings.append(("diff, read-only check", time.perf_counter() - started, rows))
    return rows > 0


def _open_renewal_tasks_exist() -> bool:
    return Task.objects.filter(
        source=TaskSource.RENEWAL, status__in=[TaskStatus.OPEN, TaskStatus.SNOOZED]
    ).exists()

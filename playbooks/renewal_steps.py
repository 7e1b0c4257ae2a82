"""Where a WITH clause cannot write (SQLite): the renewal diff applied in steps, from a
temporary table of the classified rows (``renewal_queue.run_statements`` calls it)."""

from typing import Any

from .models import RenewalWindow


def apply_in_steps(
    statements: Any,
    windows: list[RenewalWindow],
    counts: Any,
    cursor: Any,
    execute: Any,
) -> None:
    """Where a WITH clause cannot write (SQLite): the classified rows into the temporary
    table ``renewal_diff``, each class applied from it, then the tasks of the entries this
    build wrote (renewal_written_entries.sql), tightest among the stored entries.
    ``statements`` is the build's ``renewal_queue.RenewalStatements``, ``counts`` its
    ``RebuildCounts`` (not imported: that module imports this one)."""
    diff_sql, diff_params = statements.diff(windows)
    cursor.execute("DROP TABLE IF EXISTS temp.renewal_diff")
    execute("diff (one pass)", (f"CREATE TEMP TABLE renewal_diff AS {diff_sql}", diff_params))
    reassign, delete, update = statements.apply_diff()
    # Classes that cannot have rows in a delta are not sent: nothing changed (no task to
    # reassign, no entry to update), nothing can leave (no entry to delete).
    if statements.changed != []:
        counts.tasks_reassigned = execute(*reassign)
    if statements.leaving != []:
        counts.deleted = execute(*delete)
    if statements.changed != []:
        counts.updated = execute(*update)
    entries_sql, entries_params = statements.insert_entries(
        "renewal_diff s", condition=" AND s.kind = 'i'", guarded=False
    )
    counts.inserted = execute("insert entries", (entries_sql, entries_params))
    written_sql, written_params = statements.written_entries()
    counts.tasks_created = execute(
        "insert tasks",
        statements.insert_tasks(
            written_sql, tightest=statements.tightest_entry(), source_params=written_params
        ),
    )
    cursor.execute("DROP TABLE temp.renewal_diff")

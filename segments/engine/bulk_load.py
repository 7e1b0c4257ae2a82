"""The first computation as a bulk load: a recompute of every segment that starts with an
empty membership (or event) table fills it without its secondary indexes and unique
constraint and builds them once at the run's end.

Maintaining an index row by row costs each inserted row a descent into every index; on
an empty table one sort per index after the load is several times cheaper (at 100k
accounts and 100 segments: 1M memberships and 1M events inserted in 6.7 s and indexed in
3.5 s, against 63 s with the indexes in place; at 1M accounts the unique (segment,
account) index alone cost about 2 µs of each membership's insert, as much as the heap).
PostgreSQL only (``dialect().bulk_load_without_indexes``); the primary keys stay, and so
does the memberships' (account, segment) index (``KEPT``: each range reads it to find the
segments with no member in its accounts). Readers are slower (no index) but right; no
writer relies on the unique constraint (each diffs against the stored memberships under
the segment's lock); a pair written twice all the same (a writer's bug) is kept once,
logged, when the constraint is built at the end.

Safety rests on PostgreSQL's transactional DDL:

- the indexes are dropped in the transaction that starts the run, after an exclusive
  lock on the table (waited for briefly, else the run keeps its indexes) and a check that
  the table is empty under that lock;
- they are built again in the transaction that ends the run (a crash rolls the builds
  back with the rest of the end, which runs again). Not two at a time on two
  connections: each build is already parallel (two workers), and two at once took
  29.7 s against 25.7 s one after the other at 1M accounts;
- any run's start and end first build whatever is missing, so a run that never ends (a
  range failing for good, a run abandoned) leaves them missing only until the next run.
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Index, Model, UniqueConstraint

from cs_platform.db import dialect, table_name

from ..models import Membership, MembershipEvent

logger = logging.getLogger(__name__)

# The tables a first computation fills, in lock order.
BULK_TABLES: tuple[type[Model], ...] = (Membership, MembershipEvent)
# How long a run's start waits for the exclusive lock on an empty table (a reader of the
# table holds it off); past it the run keeps the indexes and inserts through them.
LOCK_TIMEOUT_MS = 2_000
# Kept during a load: each range reads it to find the segments that hold no member in its
# accounts yet (with no index on the account, that would be a scan of the table).
KEPT = frozenset({"membership_account_segment"})
# Memory for each index build at the run's end (a sort of up to 11M rows at 1M accounts).
BUILD_MEMORY = "256MB"


def bulk_indexes_drop() -> list[str]:
    """In the run's start transaction: drop the secondary indexes and unique constraints
    of each bulk table that is empty (checked under an exclusive lock), except those a
    load keeps (``KEPT``). Returns the names dropped; none when the database keeps
    indexes during loads, or when a table is busy or not empty."""
    if not dialect().bulk_load_without_indexes:
        return []
    dropped: list[str] = []
    for model in BULK_TABLES:
        table = table_name(model)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                dialect().table_lock_exclusive(cursor, table, timeout_ms=LOCK_TIMEOUT_MS)
                cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")
                if cursor.fetchone() is not None:
                    continue
                present = _index_names(cursor, model)
                with connection.schema_editor(atomic=False) as editor:
                    for index in model._meta.indexes:
                        if index.name in present and index.name not in KEPT:
                            editor.remove_index(model, index)
                            dropped.append(index.name)
                    for constraint in _unique_constraints(model):
                        if constraint.name in present and constraint.name not in KEPT:
                            editor.remove_constraint(model, constraint)
                            dropped.append(constraint.name)
        except DatabaseError:
            logger.info("bulk load: %s is busy; its indexes stay", table)
    return dropped


def bulk_indexes_restore(*, keep_dropped: Iterable[str] = ()) -> list[str]:
    """Build every secondary index and unique constraint of the bulk tables that is
    missing, in the current transaction (a no-op, one catalogue query per table, when
    none is), except those named in ``keep_dropped`` (the ones this run's start just
    dropped). Returns the names built."""
    with connection.cursor() as cursor:
        missing = _missing(cursor, keep_dropped)
    for model, item in missing:
        _build(model, item)
    with connection.cursor() as cursor:
        for model in {model for model, _ in missing}:
            dialect().analyze(cursor, table_name(model))
    return [item.name for _, item in missing]


def _missing(cursor: Any, keep_dropped: Iterable[str]) -> list[tuple[type[Model], Any]]:
    """The bulk tables' missing indexes and unique constraints."""
    kept = set(keep_dropped)
    missing = []
    for model in BULK_TABLES:
        present = _index_names(cursor, model)
        for item in [*_unique_constraints(model), *model._meta.indexes]:
            if item.name not in present and item.name not in kept:
                missing.append((model, item))
    return missing


def _build(model: type[Model], item: Index | UniqueConstraint) -> None:
    """Build one index or unique constraint in the current transaction."""
    with connection.cursor() as cursor:
        dialect().set_local(cursor, {"maintenance_work_mem": BUILD_MEMORY})
        if isinstance(item, UniqueConstraint):
            columns = [model._meta.get_field(name).column for name in item.fields]
            table = table_name(model)
            try:
                with transaction.atomic():
                    dialect().unique_constraint_add(cursor, table, item.name, columns)
            except IntegrityError:
                # A pair written twice during the load (a writer's bug): keep its first
                # row, so that the constraint, and every later run, can be built.
                logger.error("bulk load: duplicates in %s; the later copies are deleted", table)
                _duplicates_delete(cursor, table, columns)
                dialect().unique_constraint_add(cursor, table, item.name, columns)
            return
    with connection.schema_editor(atomic=False) as editor:
        editor.add_index(model, item)


def _duplicates_delete(cursor: Any, table: str, columns: list[str]) -> None:
    key = ", ".join(columns)
    cursor.execute(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER "
        f"(PARTITION BY {key} ORDER BY id) AS copy FROM {table}) d WHERE copy > 1)"
    )


def _unique_constraints(model: type[Model]) -> list[UniqueConstraint]:
    return [c for c in model._meta.constraints if isinstance(c, UniqueConstraint)]


def _index_names(cursor: Any, model: type[Model]) -> set[str]:
    """The names of the table's indexes and unique constraints (its primary key aside)."""
    constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {
        name
        for name, info in constraints.items()
        if (info.get("index") or info.get("unique")) and not info.get("primary_key")
    }

"""Writing one segment's membership diff: the difference between a target set and the
stored membership, recorded as events, leavers deleted, newcomers inserted. Where the
database has data-modifying CTEs (PostgreSQL) that is one statement
(``sql/postgresql/membership_diff_write.sql``); elsewhere the diff goes into a temporary
table (``sql/sqlite/membership_diff.sql``) and, only when it is not empty, is written with
one set-based statement each (``diff_apply``, shared with the many-segment diff)."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from cs_platform.db import dialect, load_sql, table_name

from ..models import Membership, MembershipEvent, MembershipEventKind, Segment
from . import events
from .work_tables import BATCH_TABLE, DIFF_TABLE, work_tables_ensure

Changes = tuple[int, int]
Totals = tuple[int, Decimal]


def membership_diff_apply(
    *, segment_id: int, version_id: int, targets: QuerySet, partial: bool, now: datetime
) -> tuple[Changes, Totals | None]:
    """Apply the difference between ``targets`` (a values("id") queryset) and the stored
    membership of the segment; returns ((entered, exited), totals) and sends
    ``memberships_changed`` after commit when events were written. ``totals`` (count and
    ARR of the new membership) comes free with the one-statement diff, else None.

    With ``partial`` both sides are limited to the accounts in the batch table.
    """
    if dialect().data_modifying_ctes:
        return _membership_diff_write_one_statement(
            segment_id=segment_id, version_id=version_id, targets=targets, partial=partial, now=now
        )
    with connection.cursor() as cursor:
        work_tables_ensure(cursor)
        cursor.execute(f"DELETE FROM {DIFF_TABLE}")
        target_sql, target_params = targets.query.sql_with_params()
        cursor.execute(
            load_sql("segments", "membership_diff").format(
                target_sql=target_sql,
                diff_table=DIFF_TABLE,
                members=table_name(Membership),
                only_batch=_only_batch(partial),
            ),
            [*target_params, True, segment_id, False, segment_id],
        )
        if not cursor.rowcount:
            return (0, 0), None
        cursor.execute(
            f"SELECT COALESCE(SUM(CASE WHEN entering THEN 1 ELSE 0 END), 0), COUNT(*) "
            f"FROM {DIFF_TABLE}"
        )
        entered, total = cursor.fetchone()
        if not total:
            return (0, 0), None
        entered, exited = int(entered), int(total - entered)
        diff_apply(
            cursor,
            diff_table=DIFF_TABLE,
            segment_sql="%s",
            segment_params=[segment_id],
            version_sql="%s",
            version_params=[version_id],
            now=now,
            exited=exited,
            entered=entered,
        )
    events.signal_events(segment_id, now, entered + exited)
    return (entered, exited), None


def _only_batch(partial: bool) -> str:
    """The condition limiting stored members ``m`` to the batch's accounts."""
    return f" AND m.account_id IN (SELECT account_id FROM {BATCH_TABLE})" if partial else ""


def _membership_diff_write_one_statement(
    *, segment_id: int, version_id: int, targets: QuerySet, partial: bool, now: datetime
) -> tuple[Changes, Totals]:
    """The diff and its writes in one statement; see its .sql file."""
    target_sql, target_params = targets.values("id", "arr").query.sql_with_params()
    at = connection.ops.adapt_datetimefield_value(now)
    statement = load_sql("segments", "membership_diff_write").format(
        target_sql=target_sql,
        members=table_name(Membership),
        events=table_name(MembershipEvent),
        only_batch=_only_batch(partial),
    )
    with connection.cursor() as cursor:
        dialect().tune_transaction(cursor)
        cursor.execute(
            statement,
            [
                *target_params,
                segment_id,
                segment_id,
                MembershipEventKind.ENTERED.value,
                MembershipEventKind.EXITED.value,
                at,
                version_id,
                segment_id,
                segment_id,
                at,
                version_id,
                events.SIGNAL_EVENT_IDS_LIMIT + 1,
            ],
        )
        count, arr, entered, total, first, last, few_ids = cursor.fetchone()
    entered, exited = int(entered), int(total - entered)
    events.signal_written(segment_id, few_ids, (first, last), total)
    return (entered, exited), (int(count), Decimal(arr))


def diff_apply(
    cursor: Any,
    *,
    diff_table: str,
    segment_sql: str,
    segment_params: list,
    version_sql: str,
    version_params: list,
    now: datetime,
    exited: int,
    entered: int,
) -> None:
    """Write a computed diff: events (exits then entries, by account), then delete the
    leavers and insert the newcomers, each one set-based statement.

    ``segment_sql`` / ``version_sql`` are the SQL for the segment and version of a diff
    row: a parameter for one segment, or columns for the sweep's many-segment diff (whose
    rows carry ``segment_id`` and join the segment ``s`` for its current version)."""
    members = table_name(Membership)
    events_table = table_name(MembershipEvent)
    at = connection.ops.adapt_datetimefield_value(now)
    many = segment_sql != "%s"
    source = f"{diff_table} d" + (
        f" JOIN {table_name(Segment)} s ON s.id = d.segment_id" if many else ""
    )
    order = "d.segment_id, d.entering, d.account_id" if many else "d.entering, d.account_id"
    cursor.execute(
        f"INSERT INTO {events_table} (segment_id, account_id, kind, at, version_id) "
        f"SELECT {segment_sql}, d.account_id, CASE WHEN d.entering THEN %s ELSE %s END, %s, "
        f"{version_sql} FROM {source} ORDER BY {order}",
        [
            *segment_params,
            MembershipEventKind.ENTERED.value,
            MembershipEventKind.EXITED.value,
            at,
            *version_params,
        ],
    )
    if exited:
        if many:
            cursor.execute(
                f"DELETE FROM {members} WHERE (segment_id, account_id) IN "
                f"(SELECT segment_id, account_id FROM {diff_table} WHERE NOT entering)"
            )
        else:
            cursor.execute(
                f"DELETE FROM {members} WHERE segment_id = %s AND account_id IN "
                f"(SELECT account_id FROM {diff_table} WHERE NOT entering)",
                segment_params,
            )
    if entered:
        cursor.execute(
            f"INSERT INTO {members} (segment_id, account_id, entered_at, version_id) "
            f"SELECT {segment_sql}, d.account_id, %s, {version_sql} FROM {source} "
            f"WHERE d.entering",
            [*segment_params, at, *version_params],
        )

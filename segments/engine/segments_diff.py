"""Many segments re-evaluated in one pass over a sweep batch's accounts. Each segment's
rule is a column of one statement, the diff against the stored memberships goes to a
temporary table, and ``diff.diff_apply`` writes it for all segments at once. The
compilation of the rules, the pairs diff (no arrays: SQLite) and the writing of a diff
are shared with the recompute of every segment (``segments_range_diff``)."""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, Case, Q, Value, When

from cs_platform.db import dialect, load_sql, table_name
from rules import RuleValidationError

from ..models import Membership, Segment
from . import events
from .diff import diff_apply
from .targets import VersionRules, segment_admitted_condition
from .work_tables import BATCH_TABLE, SWEEP_DIFF_TABLE, batch_accounts

logger = logging.getLogger(__name__)


@dataclass
class ManyDiff:
    """What a many-segment diff did: ``{segment_id: (entered, exited)}`` for the segments
    that changed, and for a range of the recompute of every segment ``{segment_id:
    (count, ARR in cents)}`` of the new membership in the range of every segment it
    evaluated (where the database computed them in its scan)."""

    changes: dict[int, tuple[int, int]] = field(default_factory=dict)
    totals: dict[int, tuple[int, int]] = field(default_factory=dict)
    # The segments evaluated (a rule that no longer validates is skipped and logged).
    evaluated: list[Segment] = field(default_factory=list)


def segments_compiled(
    segments: list[Segment], rules: VersionRules
) -> tuple[list[Segment], dict[str, Any], dict[int, Q]]:
    """The segments whose rule still validates (by id; the others are logged and left
    out), the expressions to alias and each one's admitted condition (exclusive groups
    subtract what the higher-precedence segments claim)."""
    aliases: dict[str, Any] = {}
    conditions: dict[int, Q] = {}
    usable = []
    for segment in sorted(segments, key=lambda s: s.pk):
        try:
            segment_aliases, condition = segment_admitted_condition(
                segment, segment.current_version, rules
            )
        except RuleValidationError as exc:
            logger.warning("segment %s skipped: %s", segment.pk, exc)
            continue
        usable.append(segment)
        aliases.update(segment_aliases)
        conditions[segment.pk] = condition
    return usable, aliases, conditions


def segments_diff_apply(*, segments: list[Segment], rules: VersionRules, now: datetime) -> ManyDiff:
    """Re-evaluate many unranked segments for the accounts of the batch table (a sweep
    batch), in one pass over them. The caller holds the segments' row locks.

    One statement reads each account once and evaluates every segment's rule as a column
    holding the segment's id or NULL (``CASE WHEN <compiled rule> THEN <id> END``, so a
    null is "no match" exactly as in a WHERE clause). The diff against the stored
    memberships goes to a temporary table, ``diff_apply`` writes it for all segments at
    once (events at ``now``), and ``memberships_changed`` is sent after commit for each
    segment that changed. (The recompute of every segment, a range of accounts at a
    time, is ``segments_range_diff``.)
    """
    usable, aliases, conditions = segments_compiled(segments, rules)
    result = ManyDiff(evaluated=usable)
    if not usable:
        return result
    # The segment's id when the account matches, else NULL.
    flags = {
        f"seg_{pk}": Case(
            When(condition, then=Value(pk)), default=None, output_field=BigIntegerField()
        )
        for pk, condition in conditions.items()
    }
    evaluated = (
        batch_accounts().alias(**aliases).annotate(**flags).order_by().values("id", "arr", *flags)
    )
    evaluated_sql, evaluated_params = evaluated.query.sql_with_params()
    columns = ", ".join(["id", "arr", *flags])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {SWEEP_DIFF_TABLE}")
        if dialect().arrays:
            rows = _segments_diff_arrays(cursor, usable, evaluated_sql, evaluated_params, columns)
        else:
            only_batch = f"m.account_id IN (SELECT account_id FROM {BATCH_TABLE})"
            rows = segments_diff_pairs(
                cursor, usable, evaluated_sql, evaluated_params, columns, (only_batch, [])
            )
        for _, segment_id, entered, total, _ in rows:
            result.changes[int(segment_id)] = (int(entered), int(total - entered))
        if result.changes:
            changes_write(cursor, result.changes, now)
    if result.changes:
        events.signal_events_many(
            {
                segment_id: entered + exited
                for segment_id, (entered, exited) in result.changes.items()
            },
            now,
        )
    return result


def changes_write(cursor: Any, changes: dict[int, tuple[int, int]], now: datetime) -> None:
    """Write the diff in the sweep diff table (``changes``: its counts per segment), events
    at ``now`` (the caller sends ``memberships_changed``)."""
    dialect().analyze(cursor, SWEEP_DIFF_TABLE)
    diff_apply(
        cursor,
        diff_table=SWEEP_DIFF_TABLE,
        segment_sql="d.segment_id",
        segment_params=[],
        version_sql="s.current_version_id",
        version_params=[],
        now=now,
        exited=sum(x for _, x in changes.values()),
        entered=sum(e for e, _ in changes.values()),
    )


def _segments_diff_arrays(
    cursor: Any, segments: list[Segment], evaluated_sql: str, evaluated_params: list, columns: str
) -> list[tuple]:
    """With arrays (PostgreSQL): compare, account by account, the array of the segments it
    matches with the array of those it is stored in (``sql/postgresql/segments_compare``);
    only the accounts whose arrays differ are unnested into diff rows. Returns
    ("diff", segment, entered, total, None) rows for the segments that changed."""
    members = table_name(Membership)
    segment_ids = ", ".join(str(segment.pk) for segment in segments)
    # The segment filter is an aggregate FILTER, never an index condition: PostgreSQL 15
    # would search the (account, segment) index once per listed segment. No ORDER BY:
    # read off that index the ids come sorted already, and should a plan ever read them
    # in another order, an account whose arrays differ only in order yields no diff row
    # (each side is checked element by element); it only costs that check.
    held_segments = f"ARRAY_AGG(m.segment_id) FILTER (WHERE m.segment_id IN ({segment_ids}))"
    held = (
        f"SELECT b.account_id, (SELECT {held_segments} FROM {members} m "
        f"WHERE m.account_id = b.account_id) AS segs FROM {BATCH_TABLE} b"
    )
    compare = load_sql("segments", "segments_compare").format(
        columns=columns,
        # A batch's accounts are looked up first (by id), not merged with every account.
        materialized="MATERIALIZED ",
        evaluated_sql=evaluated_sql,
        matched=", ".join(f"e.seg_{segment.pk}" for segment in segments),
        held=held,
    )
    cursor.execute(
        load_sql("segments", "segments_diff_batch").format(
            compare=compare,
            sweep_diff_table=SWEEP_DIFF_TABLE,
            diff_rows=load_sql("segments", "segments_diff_rows"),
            diff_counts=load_sql("segments", "segments_diff_counts"),
        ),
        evaluated_params,
    )
    return cursor.fetchall()


def segments_diff_pairs(
    cursor: Any,
    segments: list[Segment],
    evaluated_sql: str,
    evaluated_params: list,
    columns: str,
    held_condition: tuple[str, list],
) -> list[tuple]:
    """Without arrays (SQLite): the wanted and held (segment, account) pairs compared with
    NOT EXISTS both ways (``sql/sqlite/segments_diff``); ``held_condition`` (SQL on
    ``m.account_id`` and its parameters) limits the stored side to the evaluated accounts.
    Returns ("diff", segment, entered, total, None) rows for the segments that changed."""
    segment_ids = ", ".join(str(segment.pk) for segment in segments)
    wanted = " UNION ALL ".join(
        f"SELECT {segment.pk} AS segment_id, e.id AS account_id FROM e "
        f"WHERE e.seg_{segment.pk} IS NOT NULL"
        for segment in segments
    )
    held_sql, held_params = held_condition
    held = (
        f"SELECT m.segment_id, m.account_id FROM {table_name(Membership)} m "
        f"WHERE {held_sql} AND m.segment_id IN ({segment_ids})"
    )
    cursor.execute(
        load_sql("segments", "segments_diff").format(
            columns=columns,
            evaluated_sql=evaluated_sql,
            wanted=wanted,
            held=held,
            sweep_diff_table=SWEEP_DIFF_TABLE,
        ),
        [*evaluated_params, *held_params, True, False],
    )
    cursor.execute(
        f"SELECT 'diff', segment_id, SUM(CASE WHEN entering THEN 1 ELSE 0 END), COUNT(*), NULL "
        f"FROM {SWEEP_DIFF_TABLE} GROUP BY segment_id"
    )
    return cursor.fetchall()

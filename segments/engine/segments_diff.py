"""Many segments re-evaluated in one pass over the accounts: a sweep batch's accounts, or
every account (the recompute of every segment). Each segment's rule is a column of one
statement, the diff against the stored memberships goes to a temporary table, and
``diff.diff_apply`` writes it for all segments at once."""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, Case, Value, When

from cs_platform.db import dialect, load_sql, table_name
from customers.models import Account
from rules import RuleValidationError

from ..models import Membership, Segment
from . import events
from .diff import diff_apply
from .targets import VersionRules, segment_admitted_condition
from .work_tables import BATCH_TABLE, FULL_DIFF_TABLE, SWEEP_DIFF_TABLE, batch_accounts

logger = logging.getLogger(__name__)


@dataclass
class ManyDiff:
    """What ``segments_diff_apply`` did: ``{segment_id: (entered, exited)}`` for the
    segments that changed, and with ``full`` ``{segment_id: (count, arr)}`` of the new
    membership of every segment it evaluated (where the database computed them)."""

    changes: dict[int, tuple[int, int]] = field(default_factory=dict)
    totals: dict[int, tuple[int, Decimal]] = field(default_factory=dict)
    # The segments evaluated (a rule that no longer validates is skipped and logged).
    evaluated: list[Segment] = field(default_factory=list)


def segments_diff_apply(
    *, segments: list[Segment], rules: VersionRules, now: datetime, full: bool = False
) -> ManyDiff:
    """Re-evaluate many unranked segments in one pass over the accounts: the batch's
    accounts (a sweep), or with ``full`` every account (the scheduled recompute of all
    segments). The caller holds the segments' row locks.

    One statement reads each account once and evaluates every segment's rule as a column
    holding the segment's id or NULL (``CASE WHEN <compiled rule> THEN <id> END``, so a
    null is "no match" exactly as in a WHERE clause); exclusive groups subtract what the
    higher-precedence segments claim (``targets.higher_precedence_claims``). The diff
    against the stored memberships goes to a temporary table, ``diff_apply`` writes it for
    all segments at once (events at ``now``), and ``memberships_changed`` is sent after
    commit for each segment that changed.
    """
    aliases: dict[str, Any] = {}
    flags: dict[str, Any] = {}
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
        # The segment's id when the account matches, else NULL.
        flags[f"seg_{segment.pk}"] = Case(
            When(condition, then=Value(segment.pk)), default=None, output_field=BigIntegerField()
        )
    result = ManyDiff(evaluated=usable)
    if not usable:
        return result
    accounts = Account.objects.all() if full else batch_accounts()
    evaluated = accounts.alias(**aliases).annotate(**flags).order_by().values("id", "arr", *flags)
    evaluated_sql, evaluated_params = evaluated.query.sql_with_params()
    columns = ", ".join(["id", "arr", *flags])
    diff = _segments_diff_arrays if dialect().arrays else _segments_diff_pairs
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {SWEEP_DIFF_TABLE}")
        rows = diff(cursor, usable, evaluated_sql, evaluated_params, columns, full)
        for kind, segment_id, first, second, arr in rows:
            if kind == "diff":
                result.changes[int(segment_id)] = (int(first), int(second - first))
            else:
                result.totals[int(segment_id)] = (int(first), Decimal(arr))
        if not result.changes:
            return result
        dialect().analyze(cursor, SWEEP_DIFF_TABLE)
        diff_apply(
            cursor,
            diff_table=SWEEP_DIFF_TABLE,
            segment_sql="d.segment_id",
            segment_params=[],
            version_sql="s.current_version_id",
            version_params=[],
            now=now,
            exited=sum(x for _, x in result.changes.values()),
            entered=sum(e for e, _ in result.changes.values()),
        )
    events.signal_events_many(
        {segment_id: entered + exited for segment_id, (entered, exited) in result.changes.items()},
        now,
    )
    return result


def _segments_diff_arrays(
    cursor: Any,
    segments: list[Segment],
    evaluated_sql: str,
    evaluated_params: list,
    columns: str,
    full: bool,
) -> list[tuple]:
    """With arrays (PostgreSQL): compare, account by account, the array of the segments it
    matches with the array of those it is stored in (``sql/postgresql/segments_compare``);
    only the accounts whose arrays differ are unnested into diff rows.
    (bench/recompute.py, 1M accounts and 98 unranked segments: about 8 s for all of
    them, against 21 s one segment at a time.)

    Returns ("diff", segment, entered, total, None) rows for the segments that changed
    and, with ``full``, ("total", segment, count, None, arr) rows of the new membership,
    one for every segment (zero when nothing matches)."""
    members = table_name(Membership)
    segment_ids = ", ".join(str(segment.pk) for segment in segments)
    # The segment filter is an aggregate FILTER, never an index condition: PostgreSQL 15
    # would search the (account, segment) index once per listed segment. No ORDER BY:
    # read off that index the ids come sorted already, and should a plan ever read them
    # in another order, an account whose arrays differ only in order yields no diff row
    # (each side is checked element by element); it only costs that check.
    held_segments = f"ARRAY_AGG(m.segment_id) FILTER (WHERE m.segment_id IN ({segment_ids}))"
    if full:
        # Every account's memberships, grouped straight off the (account, segment) index.
        held = (
            f"SELECT m.account_id, {held_segments} AS segs FROM {members} m GROUP BY m.account_id"
        )
    else:
        held = (
            f"SELECT b.account_id, (SELECT {held_segments} FROM {members} m "
            f"WHERE m.account_id = b.account_id) AS segs FROM {BATCH_TABLE} b"
        )
    compare = load_sql("segments", "segments_compare").format(
        columns=columns,
        # A batch's accounts are looked up first (by id), not merged with every account.
        materialized="" if full else "MATERIALIZED ",
        evaluated_sql=evaluated_sql,
        matched=", ".join(f"e.seg_{segment.pk}" for segment in segments),
        held=held,
    )
    diff_rows = load_sql("segments", "segments_diff_rows")
    diff_counts = load_sql("segments", "segments_diff_counts")
    if not full:
        cursor.execute(
            load_sql("segments", "segments_diff_batch").format(
                compare=compare,
                sweep_diff_table=SWEEP_DIFF_TABLE,
                diff_rows=diff_rows,
                diff_counts=diff_counts,
            ),
            evaluated_params,
        )
        return cursor.fetchall()
    # Room to hash every account's arrays in memory (this transaction only); beyond it
    # PostgreSQL spills the join to disk, so memory stays bounded.
    dialect().set_local(cursor, {"work_mem": "256MB"})
    cursor.execute(f"DROP TABLE IF EXISTS {FULL_DIFF_TABLE}")
    cursor.execute(
        load_sql("segments", "segments_full_diff_create").format(
            full_diff_table=FULL_DIFF_TABLE, compare=compare, diff_rows=diff_rows
        ),
        evaluated_params,
    )
    cursor.execute(
        load_sql("segments", "segments_full_diff_read").format(
            sweep_diff_table=SWEEP_DIFF_TABLE,
            full_diff_table=FULL_DIFF_TABLE,
            diff_counts=diff_counts,
        )
    )
    rows = cursor.fetchall()
    counted = {int(row[1]) for row in rows if row[0] == "total"}
    rows += [("total", s.pk, 0, None, Decimal("0")) for s in segments if s.pk not in counted]
    return rows


def _segments_diff_pairs(
    cursor: Any,
    segments: list[Segment],
    evaluated_sql: str,
    evaluated_params: list,
    columns: str,
    full: bool,
) -> list[tuple]:
    """Without arrays (SQLite): the wanted and held (segment, account) pairs compared with
    NOT EXISTS both ways (``sql/sqlite/segments_diff``); the same "diff" rows as with
    arrays, and no totals (the caller aggregates each segment's stored membership
    instead)."""
    segment_ids = ", ".join(str(segment.pk) for segment in segments)
    wanted = " UNION ALL ".join(
        f"SELECT {segment.pk} AS segment_id, e.id AS account_id FROM e "
        f"WHERE e.seg_{segment.pk} IS NOT NULL"
        for segment in segments
    )
    only_batch = "" if full else f"m.account_id IN (SELECT account_id FROM {BATCH_TABLE}) AND "
    held = (
        f"SELECT m.segment_id, m.account_id FROM {table_name(Membership)} m "
        f"WHERE {only_batch}m.segment_id IN ({segment_ids})"
    )
    cursor.execute(
        load_sql("segments", "segments_diff").format(
            columns=columns,
            evaluated_sql=evaluated_sql,
            wanted=wanted,
            held=held,
            sweep_diff_table=SWEEP_DIFF_TABLE,
        ),
        [*evaluated_params, True, False],
    )
    cursor.execute(
        f"SELECT 'diff', segment_id, SUM(CASE WHEN entering THEN 1 ELSE 0 END), COUNT(*), NULL "
        f"FROM {SWEEP_DIFF_TABLE} GROUP BY segment_id"
    )
    return cursor.fetchall()

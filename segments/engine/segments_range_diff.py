"""Many segments re-evaluated over one range of account ids: a range of the recompute of
every segment (``recompute_all``). With bitmasks (PostgreSQL) each account's wanted
segments are integer words (a sum of bits over the rules) compared with its held ones (a
``bit_or`` over its stored memberships), and each segment's count and ARR in the range are
FILTER aggregates of the same words; segments that hold no member in the range yet are
inserted as they are, with no diff (``segments/sql/postgresql/segments_range_*``).
Without (SQLite), the pairs diff of ``segments_diff``."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, Case, Value, When

from cs_platform.db import dialect, load_sql, table_name
from customers.models import Account

from ..models import Membership, MembershipEvent, MembershipEventKind, Segment
from . import events
from .segments_diff import ManyDiff, changes_write, segments_compiled, segments_diff_pairs
from .targets import VersionRules
from .work_tables import BITS_TABLE, SWEEP_DIFF_TABLE

# Segments per bitmask word: bits 0..62 of a bigint, so that a word is never negative.
BITS_PER_WORD = 63
# Memory for the sorts of a range's first computation (the rest of the transaction too).
FRESH_SORT_MEMORY = "64MB"


@dataclass(frozen=True)
class AccountRange:
    """The accounts with ``low <= id < high``; None: unbounded on that side."""

    low: int | None
    high: int | None

    def condition(self, column: str) -> tuple[str, list[int]]:
        """The range as SQL on ``column`` and its parameters."""
        parts, params = [], []
        if self.low is not None:
            parts.append(f"{column} >= %s")
            params.append(self.low)
        if self.high is not None:
            parts.append(f"{column} < %s")
            params.append(self.high)
        return (" AND ".join(parts) or "1 = 1"), params


@dataclass(frozen=True)
class _Bit:
    segment_id: int
    version_id: int
    word: int
    bit: int

    @property
    def column(self) -> str:
        return f"w{self.word}"


@dataclass(frozen=True)
class Evaluation:
    """The statement evaluating every usable segment's rule over all accounts (id, arr,
    one column per segment: its bit, or with pairs its id), for any range: it does not
    depend on the range, so a worker compiles it once per run (parsing and compiling 100
    rules and generating their SQL costs about 0.5 s)."""

    segment_ids: tuple[int, ...]
    sql: str
    params: tuple
    columns: str


# The last evaluation this process compiled, by its key (one run at a time: bounded).
_evaluations: dict[tuple, Evaluation] = {}


def segments_range_diff(
    *,
    segments: list[Segment],
    rules: VersionRules,
    now: datetime,
    accounts: AccountRange,
    cache_key: Any = None,
) -> ManyDiff:
    """Bring the stored memberships of the ``accounts`` range in line with the current
    rules of ``segments`` (unranked, dynamic), events at ``now``; the caller holds locks
    that keep every other writer of these segments' memberships out (``recompute_all``).
    Returns the changes and, where the database computes them in its scan, each
    segment's count and ARR (in cents) in the range. ``cache_key`` (e.g. the run): reuse
    the compiled evaluation of an earlier call with the same key, segments and versions.
    """
    evaluation = _evaluation(segments, rules, cache_key)
    by_id = {segment.pk: segment for segment in segments}
    result = ManyDiff(evaluated=[by_id[pk] for pk in evaluation.segment_ids])
    if not result.evaluated:
        return result
    # The range as a condition on the evaluation (the planner pushes it into its scan).
    in_range, range_params = accounts.condition("r.id")
    evaluated_sql = f"SELECT * FROM ({evaluation.sql}) r WHERE {in_range}"
    params = [*evaluation.params, *range_params]
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {SWEEP_DIFF_TABLE}")
        if dialect().bitmasks:
            bits = _bits(result.evaluated)
            written = _range_bitmasks(
                cursor, result, bits, (evaluated_sql, params, evaluation.columns), accounts, now
            )
        else:
            rows = segments_diff_pairs(
                cursor,
                result.evaluated,
                evaluated_sql,
                params,
                evaluation.columns,
                accounts.condition("m.account_id"),
            )
            for _, segment_id, entered, total, _ in rows:
                result.changes[int(segment_id)] = (int(entered), int(total - entered))
            written = dict(result.changes)
        if written:
            changes_write(cursor, written, now)
    # The first computations signalled their events as they wrote them.
    unsignalled = {
        segment_id: entered + exited
        for segment_id, (entered, exited) in result.changes.items()
        if segment_id in written
    }
    if unsignalled:
        events.signal_events_many(
            unsignalled,
            now,
            accounts=(accounts.low, accounts.high),
        )
    return result


def _bits(segments: list[Segment]) -> list[_Bit]:
    return [
        _Bit(segment.pk, segment.current_version_id, i // BITS_PER_WORD, 1 << (i % BITS_PER_WORD))
        for i, segment in enumerate(segments)
    ]


def _evaluation(segments: list[Segment], rules: VersionRules, cache_key: Any) -> Evaluation:
    key = (
        cache_key,
        dialect().vendor,
        rules.today,
        tuple(sorted((s.pk, s.current_version_id) for s in segments)),
    )
    if cache_key is not None and key in _evaluations:
        return _evaluations[key]
    usable, aliases, conditions = segments_compiled(segments, rules)
    if dialect().bitmasks:
        # Each segment's bit when the account matches its rule, else 0.
        flags = {
            f"seg_{b.segment_id}": Case(
                When(conditions[b.segment_id], then=Value(b.bit)),
                default=Value(0),
                output_field=BigIntegerField(),
            )
            for b in _bits(usable)
        }
    else:
        # The segment's id when the account matches, else NULL.
        flags = {
            f"seg_{pk}": Case(
                When(condition, then=Value(pk)), default=None, output_field=BigIntegerField()
            )
            for pk, condition in conditions.items()
        }
    sql, params = "", ()
    if usable:
        evaluated = Account.objects.alias(**aliases).annotate(**flags).order_by()
        sql, params = evaluated.values("id", "arr", *flags).query.sql_with_params()
    evaluation = Evaluation(
        segment_ids=tuple(segment.pk for segment in usable),
        sql=sql,
        params=tuple(params),
        columns=", ".join(["id", "arr", *flags]),
    )
    if cache_key is not None:
        _evaluations.clear()
        _evaluations[key] = evaluation
    return evaluation


def _range_bitmasks(
    cursor: Any,
    result: ManyDiff,
    bits: list[_Bit],
    evaluated: tuple[str, list, str],
    accounts: AccountRange,
    now: datetime,
) -> dict[int, tuple[int, int]]:
    """Evaluate into the bits table, count, write the first computations, and put the
    other segments' diff into the sweep diff table; returns that diff's counts (to
    write)."""
    evaluated_sql, params, columns = evaluated
    words = range(bits[-1].word + 1)
    word_sums = ", ".join(
        " + ".join(f"e.seg_{b.segment_id}" for b in bits if b.word == word) + f" AS w{word}"
        for word in words
    )
    cursor.execute(f"DROP TABLE IF EXISTS {BITS_TABLE}")
    cursor.execute(
        load_sql("segments", "segments_range_eval").format(
            bits_table=BITS_TABLE,
            columns=columns,
            evaluated_sql=evaluated_sql,
            words=word_sums,
        ),
        params,
    )
    dialect().analyze(cursor, BITS_TABLE)
    # 2. Totals of the new membership in the range, from the words.
    aggregates = ", ".join(
        f"COUNT(*) FILTER (WHERE ({b.column} & {b.bit}) <> 0), "
        f"COALESCE(SUM(cents) FILTER (WHERE ({b.column} & {b.bit}) <> 0), 0)"
        for b in bits
    )
    cursor.execute(
        load_sql("segments", "segments_range_totals").format(
            aggregates=aggregates, bits_table=BITS_TABLE
        )
    )
    row = cursor.fetchone()
    for i, b in enumerate(bits):
        result.totals[b.segment_id] = (int(row[2 * i]), int(row[2 * i + 1]))
    # 3. Segments with no member in the range: their first computation, no diff.
    fresh = _without_members(cursor, [b.segment_id for b in bits], accounts)
    first = [b for b in bits if b.segment_id in fresh and result.totals[b.segment_id][0]]
    if first:
        _first_computation_write(cursor, first, words, now)
        for b in first:
            result.changes[b.segment_id] = (result.totals[b.segment_id][0], 0)
    # 4. The others: compare the words, diff rows for the bits that differ.
    compared = [b for b in bits if b.segment_id not in fresh]
    if not compared:
        return {}
    diff = _compare(cursor, compared, words, accounts)
    result.changes.update(diff)
    return diff


def _without_members(cursor: Any, segment_ids: list[int], accounts: AccountRange) -> set[int]:
    """The segments holding no membership in the range (one index probe each)."""
    in_range, params = accounts.condition("m.account_id")
    cursor.execute(
        f"SELECT s.id FROM unnest(%s::bigint[]) AS s(id) WHERE NOT EXISTS "
        f"(SELECT 1 FROM {table_name(Membership)} m WHERE m.segment_id = s.id AND {in_range})",
        [segment_ids, *params],
    )
    return {int(segment_id) for (segment_id,) in cursor.fetchall()}


def _word_of(words: range, template: str) -> str:
    """The word numbered ``b.word``, each word's SQL being ``template`` with its number
    as ``{n}`` (a CASE over the words; one word: its SQL)."""
    if len(words) == 1:
        return template.format(n=0)
    cases = " ".join(f"WHEN {word} THEN {template.format(n=word)}" for word in words)
    return f"(CASE b.word {cases} END)"


def _first_computation_write(cursor: Any, first: list[_Bit], words: range, now: datetime) -> None:
    at = connection.ops.adapt_datetimefield_value(now)
    # Its sorts (a range's new pairs, about 170k at 1M accounts) in memory, not on disk.
    dialect().set_local(cursor, {"work_mem": FRESH_SORT_MEMORY})
    cursor.execute(
        load_sql("segments", "segments_range_fresh").format(
            bits_table=BITS_TABLE,
            wanted=f"({_word_of(words, 'w.w{n}')} & b.bit) <> 0",
            events=table_name(MembershipEvent),
            members=table_name(Membership),
        ),
        [
            [b.segment_id for b in first],
            [b.word for b in first],
            [b.bit for b in first],
            [b.version_id for b in first],
            MembershipEventKind.ENTERED.value,
            at,
            at,
            events.SIGNAL_EVENT_IDS_LIMIT + 1,
        ],
    )
    for segment_id, count, first, last, few_ids in cursor.fetchall():
        events.signal_written(int(segment_id), few_ids, (first, last), int(count))


def _compare(
    cursor: Any, compared: list[_Bit], words: range, accounts: AccountRange
) -> dict[int, tuple[int, int]]:
    """The diff of the ``compared`` segments into the sweep diff table; its counts."""
    # One array per word, indexed by segment id: the compared segments' bits, 0 elsewhere.
    top = max(b.segment_id for b in compared)
    arrays = [[0] * top for _ in words]
    masks = [0 for _ in words]
    for b in compared:
        arrays[b.word][b.segment_id - 1] = b.bit
        masks[b.word] |= b.bit
    held_words = ", ".join(
        f"COALESCE(bit_or((%s::bigint[])[m.segment_id]), 0) AS h{word}" for word in words
    )
    want_have = ", ".join(
        f"COALESCE(w.w{word}, 0) & {masks[word]} AS w{word}, COALESCE(h.h{word}, 0) AS h{word}"
        for word in words
    )
    differs = " OR ".join(
        f"COALESCE(w.w{word}, 0) & {masks[word]} <> COALESCE(h.h{word}, 0)" for word in words
    )
    in_range, range_params = accounts.condition("m.account_id")
    cursor.execute(
        load_sql("segments", "segments_range_compare").format(
            members=table_name(Membership),
            held_words=held_words,
            held_range=in_range,
            bits_table=BITS_TABLE,
            want_have=want_have,
            differs=differs,
            entering=f"({_word_of(words, 'x.w{n}')} & b.bit) <> 0",
            changed=f"({_word_of(words, '(x.w{n} # x.h{n})')} & b.bit) <> 0",
            sweep_diff_table=SWEEP_DIFF_TABLE,
            diff_counts=load_sql("segments", "segments_diff_counts"),
        ),
        [
            *arrays,
            *range_params,
            [b.segment_id for b in compared],
            [b.word for b in compared],
            [b.bit for b in compared],
        ],
    )
    return {
        int(segment_id): (int(entered), int(total - entered))
        for _, segment_id, entered, total, _ in cursor.fetchall()
    }

"""What each account's health should be: ONE set-based statement for every scorecard, the
``target`` SELECT (account, scorecard, score, status, measure scores), which a run diffs
against the stored health in the same statement and the previews and backtest group.

The formula (DESIGN 12), exactly, in integers so both databases agree to the last digit:

- a measure's score is kept in hundredths of a point (0 … 10000), rounded half up:
  ``field``: clamp((value − bad) ÷ (good − bad), 0, 1) × 10000 (NULL when the value is);
  ``condition``: 10000 when the rule matches, else 0; ``manual``: the latest entry still
  valid on ``today`` × 100 (NULL when none);
- with w the weights in hundredths, over the measures present (score not NULL):
  N = Σ wᵢ × sᵢ and D = 100 × Σ wᵢ, the score is floor((2N + D) ÷ 2D), i.e. Σ w×s ÷ Σ w
  rounded half up; NULL when no measure is present;
- status: red below ``red_below``, green from ``green_from``, else yellow.

The statement has three layers, kept as separate steps of the plan
(``Dialect.keep_subquery``) so each value is computed once per account however often the
layers above name it:

1. **raw** (the ORM, so fields and conditions compile through the rules compiler): each
   account's scorecard ``sc`` — the first scorecard, in assignment order, whose segment
   holds the account (one LEFT JOIN of the memberships per segment), else the default —
   and every scorecard's measure values ``v<j>_<i>``, each computed only for the accounts
   its scorecard takes (NULL for the others). Usage fields read the maintained window
   features through one join per metric (``Computed.joined``), not the daily table.
2. **scores**: each measure's score in hundredths;
3. **total**: the score, the status and the measure scores as JSON, by the account's
   scorecard.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    Expression,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from cs_platform.db import dialect
from customers.models import Account
from rules import AttributeSpec, Column, Computed, RuleValidationError, compile_rule, registry
from rules.compiler import source_expression
from rules.vocabulary import INTEGER

from ..definitions import NUMERIC_TYPES, MeasureSpec, ScorecardSpec
from ..models import ManualEntry, MeasureSource

# Hundredths of a point: a measure score of 83.47 is kept as 8347.
MEASURE_SCALE = 100
FULL = 100 * MEASURE_SCALE
CHANGED_TABLE = "health_changed"
# The accounts a partial run rescores (a sweep batch, a list of changed accounts).
SCOPE_TABLE = "health_scope"
# The scorecard id a definition not stored yet (a new scorecard's preview) is known by in
# the statement; stored ids start at 1.
UNSAVED_ID = 0
_NULL = Value(None, output_field=IntegerField())


def work_tables_ensure(cursor: Any) -> None:
    """This connection's work tables (temporary; PostgreSQL empties them at commit)."""
    db = dialect()
    db.tune_transaction(cursor)
    columns = (
        f"account_id {db.bigint} PRIMARY KEY, scorecard_id {db.bigint}, score integer, "
        f"status varchar(10), measures {db.json_type}, digest {db.integer_list_type}, "
        f"real_change integer, "
        f"version_id {db.bigint}"
    )
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {CHANGED_TABLE} ({columns}){db.temp_table_suffix}"
    )
    cursor.execute(f"DELETE FROM {CHANGED_TABLE}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {SCOPE_TABLE} "
        f"(account_id {db.bigint} PRIMARY KEY){db.temp_table_suffix}"
    )
    cursor.execute(f"DELETE FROM {SCOPE_TABLE}")


def spec_id(spec: ScorecardSpec) -> int:
    """The id the statement knows ``spec`` by (``UNSAVED_ID`` for an unsaved definition)."""
    return UNSAVED_ID if spec.id is None else int(spec.id)


def version_sql(specs: Sequence[ScorecardSpec], scorecard_id: str) -> str:
    """The SQL of the version of the definition each scorecard is computed from, by the
    scorecard id ``scorecard_id`` (NULL for a scorecard without one: an unsaved draft)."""
    db = dialect()
    whens = " ".join(
        f"WHEN {spec_id(s)} THEN {int(s.version_id)}" for s in specs if s.version_id is not None
    )
    if not whens:
        return f"CAST(NULL AS {db.bigint})"
    return f"CAST(CASE {scorecard_id} {whens} END AS {db.bigint})"


def _assignment(specs: Sequence[ScorecardSpec]) -> tuple[dict[str, Any], Expression]:
    """The membership joins and the expression of each account's scorecard id: the first
    of ``specs`` (in assignment order) whose segment holds the account, else the default
    (NULL without one). At most one membership row per (segment, account): a LEFT JOIN."""
    relations: dict[str, Any] = {}
    whens = []
    default: int | None = None
    for spec in specs:
        if spec.segment_id is None:
            default = spec_id(spec) if default is None else default
            continue
        alias = f"health_member_{int(spec.segment_id)}"
        relations[alias] = FilteredRelation(
            "memberships", condition=Q(memberships__segment_id=spec.segment_id)
        )
        whens.append(When(Q(**{f"{alias}__entered_at__isnull": False}), then=spec_id(spec)))
    # Typed, or a statement without any scorecard would select an untyped NULL.
    fallback = Cast(Value(default), IntegerField())
    if not whens:
        return relations, fallback
    return relations, Case(*whens, default=fallback, output_field=IntegerField())


def _field_value(
    measure: MeasureSpec, today: date, attributes: dict, *, joins: bool = True
) -> tuple[dict[str, Any], Any, int, bool]:
    """The joins the field's value needs, its expression, the constant it is to be divided
    by (a column such as ``mrr`` = arr / 12 is read as the column), and whether the value
    is a whole number (an integer field: its score is computed in integers). ``joins``
    False: a computed field (a usage window) is read as its own expression, no join."""
    rule_field = registry.get(measure.field, attributes)
    usable = (
        rule_field is not None
        and rule_field.type in NUMERIC_TYPES
        and measure.bad is not None
        and measure.good is not None
        and measure.bad != measure.good
    )
    if not usable:  # validated on save; a custom attribute may have gone (or changed type)
        return {}, _NULL, 1, False
    whole = rule_field.type == INTEGER
    source = rule_field.source
    if joins and isinstance(source, Computed) and source.joined is not None:
        relations, value = source.joined(today)
        return relations, value, 1, whole
    divisor = source.divide_by if isinstance(source, Column) else 1
    return {}, source_expression(source, rule_field.type, today), divisor, whole


def manual_score_expression(measure: MeasureSpec, today: date) -> Any:
    """The latest entry of the measure valid on ``today`` (entered in the last
    ``valid_days`` days, ``today`` included), per account row; NULL when none."""
    if measure.measure_id is None:
        return _NULL
    first_valid = today - timedelta(days=measure.valid_days - 1)
    entries = ManualEntry.objects.filter(
        account_id=OuterRef("pk"),
        measure_id=measure.measure_id,
        entered_on__gte=first_valid,
        entered_on__lte=today,
    ).order_by("-entered_on", "-entered_at", "-id")
    return Subquery(entries.values("score")[:1], output_field=IntegerField())


@dataclass
class Target:
    """The target SELECT (``sql`` and its ``params``) and ``measures``: the JSON of a row's
    measure scores, an expression over the SELECT's columns under the alias ``t``."""

    sql: str
    params: list[Any]
    measures: str


@dataclass
class _Raw:
    relations: dict[str, Any]
    values: dict[str, Any]
    divisors: dict[str, int]
    # The values that are whole numbers (integer fields).
    whole: set[str]
    # Manual measures read through a join (``manual_join``): value name → the measure.
    joined: dict[str, MeasureSpec]


def manual_latest_sql(measure: MeasureSpec, today: date) -> tuple[str, list[Any]]:
    """``SELECT account_id, score``: each account's latest entry of the manual measure
    valid on ``today`` (as ``manual_score_expression``), for every account at once."""
    first_valid = today - timedelta(days=measure.valid_days - 1)
    table = ManualEntry._meta.db_table
    sql = dialect().latest_rows(
        columns="account_id, score",
        source=f"{table} WHERE measure_id = %s AND entered_on >= %s AND entered_on <= %s",
        partition="account_id",
        order="entered_on DESC, entered_at DESC, id DESC",
    )
    return sql, [int(measure.measure_id), first_valid, today]


def _measure_values(
    spec: ScorecardSpec,
    index: int,
    *,
    today: date,
    attributes: dict[str, AttributeSpec],
    manual_join: bool = False,
    field_joins: bool = True,
) -> _Raw:
    """Scorecard ``index``'s measure values ``v<index>_<i>``, ungated (``manual_join``:
    the stored manual measures are left to a join, in ``joined``; ``field_joins``: see
    ``target_select``)."""
    raw = _Raw({}, {}, {}, set(), {})
    for position, measure in enumerate(spec.measures):
        name = f"v{index}_{position}"
        raw.divisors[name] = 1
        if measure.source == MeasureSource.FIELD:
            relations, value, raw.divisors[name], whole = _field_value(
                measure, today, attributes, joins=field_joins
            )
            raw.relations.update(relations)
            if whole:
                raw.whole.add(name)
        elif measure.source == MeasureSource.CONDITION:
            try:
                aliases, condition = compile_rule(measure.rule, today=today, attributes=attributes)
            except RuleValidationError:
                # Validated on save; a custom attribute it names may have gone since: the
                # measure is then absent (its weight renormalized away), not a failed run.
                value = _NULL
            else:
                raw.relations.update(aliases)
                value = Case(When(condition, then=Value(1)), default=Value(0))
        elif manual_join and measure.measure_id is not None:
            raw.joined[name] = measure
            continue
        else:
            value = manual_score_expression(measure, today)
        raw.values[name] = value
    return raw


def _literal(value: Any) -> str:
    """A validated Decimal as a SQL number literal (digits, sign and point only)."""
    return dialect().number(f"'{format(value, 'f')}'")


def measure_score_sql(measure: MeasureSpec, raw: str, divisor: int, *, whole: bool = False) -> str:
    """The measure's score in hundredths (0 … 10000, NULL when absent) from its raw value
    ``raw`` (a column of the layer below; ``whole``: a whole number)."""
    db = dialect()
    if measure.source == MeasureSource.CONDITION:
        return f"({raw} * {FULL})"
    if measure.source == MeasureSource.MANUAL:
        return f"({raw} * {MEASURE_SCALE})"
    if measure.bad is None or measure.good is None or measure.bad == measure.good:
        return "NULL"  # not usable (see _field_value): the measure is left out
    if whole and divisor == 1:
        integers = _whole_score_sql(raw, measure.bad, measure.good)
        if integers is not None:
            return integers
    value = db.number(raw)
    if divisor != 1:
        value = f"({value} / {int(divisor)})"
    bad, good = _literal(measure.bad), _literal(measure.good)
    share = f"(({value} - {bad}) * {FULL} / ({good} - {bad}))"
    # The clamp compares the value with the bounds (share ≤ 0 ⇔ the value is at or past
    # bad, share ≥ 1 ⇔ at or past good), so only values in between are divided.
    at_bad, at_good = (">=", "<=") if measure.good < measure.bad else ("<=", ">=")
    return (
        f"CASE WHEN {raw} IS NULL THEN NULL WHEN {value} {at_bad} {bad} THEN 0 "
        f"WHEN {value} {at_good} {good} THEN {FULL} ELSE {db.round_to_integer(share)} END"
    )


# The largest bound, in units of its last decimal place, whose scores are computed in
# integers: the division's divisor stays far below the 16 significant digits of
# PostgreSQL's numeric division, so both give the exact rounding, and no product overflows.
_WHOLE_BOUND_LIMIT = 10**9


def _whole_score_sql(raw: str, bad: Decimal, good: Decimal) -> str | None:
    """The score of the whole number ``raw`` in integer arithmetic, exactly as the numeric
    formula of ``measure_score_sql``, without numeric operations (a full run computes millions):
    with the bounds scaled to integers B and G (× 10^k for their decimals), a value v
    strictly between them scores n ÷ d rounded half up, n = |v × 10^k − B| × 10000 and
    d = |G − B|, i.e. (2n + d) div 2d. None when the bounds are too large for it."""
    places = max(0, -min(bad.normalize().as_tuple().exponent, good.normalize().as_tuple().exponent))
    scale = 10**places
    low, high = int(bad * scale), int(good * scale)
    if max(abs(low), abs(high), abs(high - low)) > _WHOLE_BOUND_LIMIT:
        return None
    # The clamp, for a whole v: v ≤ bad ⇔ v ≤ floor(bad), v ≥ good ⇔ v ≥ ceil(good) (and
    # mirrored when good is below bad).
    floor_bad, ceil_bad = math.floor(bad), math.ceil(bad)
    floor_good, ceil_good = math.floor(good), math.ceil(good)
    value = f"CAST({raw} AS {dialect().bigint})"
    if good > bad:
        at_bad, at_good = f"{value} <= {floor_bad}", f"{value} >= {ceil_good}"
        numerator = f"({value} * {scale} - ({low})) * {FULL}"
    else:
        at_bad, at_good = f"{value} >= {ceil_bad}", f"{value} <= {floor_good}"
        numerator = f"(({low}) - {value} * {scale}) * {FULL}"
    spread = abs(high - low)
    return (
        f"CASE WHEN {raw} IS NULL THEN NULL WHEN {at_bad} THEN 0 WHEN {at_good} THEN {FULL} "
        f"ELSE (2 * {numerator} + {spread}) / {2 * spread} END"
    )


def _score_sql(spec: ScorecardSpec, index: int) -> str:
    """Σ w×s ÷ Σ w rounded half up over the present measures of scorecard ``index`` (the
    scores layer's ``s<index>_<i>``); NULL when none is present."""
    db = dialect()
    if not spec.measures:
        return "NULL"
    names = [f"s{index}_{i}" for i in range(len(spec.measures))]
    weights = [m.weight_hundredths for m in spec.measures]
    numerator = " + ".join(
        f"COALESCE({s} * CAST({w} AS {db.bigint}), 0)" for s, w in zip(names, weights, strict=True)
    )
    weight_sum = " + ".join(
        f"CASE WHEN {s} IS NULL THEN 0 ELSE {w} END" for s, w in zip(names, weights, strict=True)
    )
    denominator = f"({weight_sum}) * {MEASURE_SCALE}"
    return (
        f"CASE WHEN ({weight_sum}) = 0 THEN NULL "
        f"ELSE (2 * ({numerator}) + {denominator}) / (2 * {denominator}) END"
    )


def _status_sql(spec: ScorecardSpec) -> str:
    return (
        f"CASE WHEN t.score < {int(spec.red_below)} THEN 'red' "
        f"WHEN t.score >= {int(spec.green_from)} THEN 'green' ELSE 'yellow' END"
    )


def target_select(
    specs: Sequence[ScorecardSpec],
    accounts: QuerySet[Account],
    *,
    today: date,
    attributes: dict[str, AttributeSpec],
    scored: Sequence[ScorecardSpec] | None = None,
    extra: dict[str, Any] | None = None,
    manual_join: bool = False,
    field_joins: bool = True,
) -> Target:
    """``SELECT account_id, scorecard_id, score, status, digest[, extra…], s<j>_<i>…`` for
    every row of ``accounts``: its scorecard among ``specs`` (in assignment order; NULL
    when none takes it), and the health that scorecard gives it (NULL score and status and
    an empty digest when not scored; ``Target.measures`` makes the JSON of the measure
    scores ``s<j>_<i>``). ``scored``: the scorecards whose measures are computed
    (default: all; the others only take their accounts, with a NULL score). ``extra``:
    more expressions of ``accounts``' rows, passed through by name. ``manual_join``: read
    the manual scores through one join per manual measure (each account's latest valid
    entry, computed for every account at once: a hash join, for statements over most
    accounts) instead of a subquery per account row (an index probe each: for a batch of
    accounts, or rows scored as of their own day). ``field_joins`` False: each computed
    field (a usage window) is its own expression (a subquery of the account's daily rows)
    instead of the joins of the maintained window features and today's daily row — for
    rows scored as of their own past day, where the features (as of today) never apply
    and a join on a day that moves with each row is a join of the whole daily table."""
    db = dialect()
    extra = extra or {}
    scored_ids = {id(s) for s in (specs if scored is None else scored)}
    relations, assignment = _assignment(specs)
    values: dict[str, Any] = {}
    layers: list[tuple[int, ScorecardSpec, _Raw]] = []
    for index, spec in enumerate(specs):
        if id(spec) not in scored_ids:
            continue
        raw = _measure_values(
            spec,
            index,
            today=today,
            attributes=attributes,
            manual_join=manual_join,
            field_joins=field_joins,
        )
        relations.update(raw.relations)
        # Each value only for the accounts this scorecard takes (conditions, subqueries and
        # JSON reads are not free; a CASE that does not match costs nothing more).
        mine = Q(health_sc=spec_id(spec))
        values.update({n: Case(When(mine, then=v)) for n, v in raw.values.items()})
        layers.append((index, spec, raw))
    rows = accounts.order_by()
    if relations:
        rows = rows.alias(**relations)
    rows = rows.annotate(health_sc=assignment, **extra).annotate(**values)
    raw_sql, params = rows.values("id", "health_sc", *extra, *values).query.sql_with_params()
    by_scorecard = [(spec_id(spec), index, spec) for index, spec, _ in layers]
    names = [f"s{index}_{i}" for index, spec, _ in layers for i in range(len(spec.measures))]
    scores = ""
    joins, join_params = "", []
    for index, spec, raw in layers:
        for i, measure in enumerate(spec.measures):
            name = f"v{index}_{i}"
            value = f"raw.{name}"
            if name in raw.joined:
                latest, latest_params = manual_latest_sql(raw.joined[name], today)
                joins += f" LEFT JOIN ({latest}) j{name} ON j{name}.account_id = raw.id"
                join_params += latest_params
                value = f"(CASE WHEN raw.health_sc = {spec_id(spec)} THEN j{name}.score END)"
            score = measure_score_sql(measure, value, raw.divisors[name], whole=name in raw.whole)
            scores += f", {score} AS s{index}_{i}"
    score = " ".join(f"WHEN {sid} THEN {_score_sql(s, i)}" for sid, i, s in by_scorecard)
    digest = " ".join(f"WHEN {sid} THEN {_digest_sql(s, i)}" for sid, i, s in by_scorecard)
    no_digest = db.integer_list([])
    status = " ".join(f"WHEN t.sc = {sid} THEN {_status_sql(s)}" for sid, _, s in by_scorecard)
    if by_scorecard:
        score_sql = f"CASE ms.health_sc {score} END"
        digest_sql = f"CASE ms.health_sc {digest} ELSE {no_digest} END"
        status_sql = f"CASE WHEN t.score IS NULL THEN NULL {status} END"
    else:  # typed NULLs, as the columns they are compared with
        score_sql, digest_sql = "CAST(NULL AS integer)", no_digest
        status_sql = "CAST(NULL AS varchar(10))"
    passed = "".join(f", {{layer}}.{name}" for name in [*extra, *names])
    sql = (
        f"SELECT t.account_id, t.sc AS scorecard_id, t.score, {status_sql} AS status, "
        f"t.digest{passed.format(layer='t')} FROM ("
        f"SELECT ms.id AS account_id, ms.health_sc AS sc, {score_sql} AS score, "
        f"{digest_sql} AS digest{passed.format(layer='ms')} FROM ("
        f"SELECT raw.id, raw.health_sc{''.join(f', raw.{n}' for n in extra)}{scores} "
        f"FROM ({raw_sql}{db.keep_subquery}) raw{joins}{db.keep_subquery}) ms"
        # Kept too: the score is named five times above it (status, the diff's tests),
        # and a merged subquery would compute its sum over the measures each time.
        f"{db.keep_subquery}) t"
    )
    return Target(sql, [*params, *join_params], _measures_sql(by_scorecard))


def _digest_sql(spec: ScorecardSpec, index: int) -> str:
    """The measure scores in hundredths in the order of their keys, NULL for an absent one
    (``AccountHealth.measures_digest``). Two rows of the same version of a definition (so
    the same keys) have equal digests exactly when their measures' JSON is equal."""
    by_key = sorted((m.key, f"s{index}_{i}") for i, m in enumerate(spec.measures))
    return dialect().integer_list([s for _, s in by_key])


def _measures_sql(by_scorecard: list[tuple[int, int, ScorecardSpec]]) -> str:
    """The measures' JSON of a target row ``t`` (by its scorecard)."""
    db = dialect()
    if not by_scorecard:
        return db.empty_json
    cases = " ".join(
        f"WHEN {sid} THEN "
        + db.json_object_without_nulls(
            [(m.key, db.hundredths_as_number(f"t.s{i}_{p}")) for p, m in enumerate(s.measures)]
        )
        for sid, i, s in by_scorecard
    )
    return f"CASE t.scorecard_id {cases} ELSE {db.empty_json} END"


def scope_fill(cursor: Any, accounts: QuerySet[Account]) -> int:
    """Put the ids of ``accounts`` into the scope work table (one statement); returns the
    count. Every statement of a partial run then joins this small keyed table."""
    sql, params = accounts.order_by().values("id").query.sql_with_params()
    cursor.execute(f"INSERT INTO {SCOPE_TABLE} (account_id) {sql}", params)
    count = max(cursor.rowcount, 0)
    dialect().analyze(cursor, SCOPE_TABLE)
    return count


def scope_accounts() -> QuerySet[Account]:
    """The accounts in the scope work table, as a queryset to filter on."""
    return Account.objects.filter(
        id__in=RawSQL(f"SELECT account_id FROM {SCOPE_TABLE}", [])  # noqa: S611 (constant)
    )

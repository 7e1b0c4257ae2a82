"""What each account's health should be: one set-based statement per scorecard that fills
the work table ``health_target`` (account, scorecard, score, status, measure scores).

The formula (DESIGN 12), exactly, in integers so both databases agree to the last digit:

- a measure's score is kept in hundredths of a point (0 … 10000), rounded half up:
  ``field``: clamp((value − bad) ÷ (good − bad), 0, 1) × 10000 (NULL when the value is);
  ``condition``: 10000 when the rule matches, else 0; ``manual``: the latest entry still
  valid on ``today`` × 100 (NULL when none);
- with w the weights in hundredths, over the measures present (score not NULL):
  N = Σ wᵢ × sᵢ and D = 100 × Σ wᵢ, the score is floor((2N + D) ÷ 2D), i.e. Σ w×s ÷ Σ w
  rounded half up; NULL when no measure is present;
- status: red below ``red_below``, green from ``green_from``, else yellow.

The statement has three layers: the raw values (one correlated subquery or expression per
measure, built by the rules compiler), the measure scores, and the total; the first two
are kept as separate steps of the plan (``Dialect.keep_subquery``) so each subquery runs
once per account however often the layers above name its column.
"""

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from django.db.models import Case, Exists, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.expressions import RawSQL

from cs_platform.db import dialect
from customers.models import Account
from rules import AttributeSpec, Column, RuleValidationError, compile_rule, registry
from rules.compiler import source_expression
from segments.models import Membership

from ..definitions import NUMERIC_TYPES, MeasureSpec, ScorecardSpec
from ..models import ManualEntry, MeasureSource

# Hundredths of a point: a measure score of 83.47 is kept as 8347.
MEASURE_SCALE = 100
FULL = 100 * MEASURE_SCALE
TARGET_TABLE = "health_target"
CHANGED_TABLE = "health_changed"
# The accounts a partial run rescores (a sweep batch, a list of changed accounts).
SCOPE_TABLE = "health_scope"


def work_tables_ensure(cursor: Any) -> None:
    """This connection's work tables (temporary; PostgreSQL empties them at commit)."""
    db = dialect()
    db.tune_transaction(cursor)
    columns = (
        f"account_id {db.bigint} PRIMARY KEY, scorecard_id {db.bigint}, score integer, "
        f"status varchar(10), measures {db.json_type}"
    )
    for table in (TARGET_TABLE, CHANGED_TABLE):
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} ({columns}){db.temp_table_suffix}"
        )
        cursor.execute(f"DELETE FROM {table}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {SCOPE_TABLE} "
        f"(account_id {db.bigint} PRIMARY KEY){db.temp_table_suffix}"
    )
    cursor.execute(f"DELETE FROM {SCOPE_TABLE}")


def _member_of(segment_id: int) -> Exists:
    return Exists(Membership.objects.filter(segment_id=segment_id, account_id=OuterRef("pk")))


def assigned_accounts(
    spec: ScorecardSpec, earlier: Sequence[ScorecardSpec], base: QuerySet[Account]
) -> QuerySet[Account]:
    """The accounts of ``base`` that ``spec`` scores: members of its segment (every account
    for the default) that no scorecard ``earlier`` in the assignment order takes."""
    accounts = base
    if spec.segment_id is not None:
        accounts = accounts.filter(_member_of(spec.segment_id))
    for other in earlier:
        if other.segment_id is not None:
            accounts = accounts.exclude(_member_of(other.segment_id))
    return accounts


def _field_value(measure: MeasureSpec, today: date, attributes: dict) -> tuple[Any, int]:
    """The field's value as an expression, and the constant it is to be divided by (a
    column such as ``mrr`` = arr / 12 is read as the column)."""
    rule_field = registry.get(measure.field, attributes)
    usable = (
        rule_field is not None
        and rule_field.type in NUMERIC_TYPES
        and measure.bad is not None
        and measure.good is not None
        and measure.bad != measure.good
    )
    if not usable:  # validated on save; a custom attribute may have gone (or changed type)
        return Value(None, output_field=IntegerField()), 1
    source = rule_field.source
    divisor = source.divide_by if isinstance(source, Column) else 1
    return source_expression(source, rule_field.type, today), divisor


def manual_score_expression(measure: MeasureSpec, today: date) -> Any:
    """The latest entry of the measure valid on ``today`` (entered in the last
    ``valid_days`` days, ``today`` included), per account row; NULL when none."""
    if measure.measure_id is None:
        return Value(None, output_field=IntegerField())
    first_valid = today - timedelta(days=measure.valid_days - 1)
    entries = ManualEntry.objects.filter(
        account_id=OuterRef("pk"),
        measure_id=measure.measure_id,
        entered_on__gte=first_valid,
        entered_on__lte=today,
    ).order_by("-entered_on", "-entered_at", "-id")
    return Subquery(entries.values("score")[:1], output_field=IntegerField())


def raw_values(
    spec: ScorecardSpec,
    accounts: QuerySet[Account],
    *,
    today: date,
    attributes: dict[str, AttributeSpec],
) -> tuple[QuerySet, list[int]]:
    """``accounts`` with ``v0`` … ``vN``: each measure's raw value (see the module), and
    the divisors of the field measures' values."""
    annotations: dict[str, Any] = {}
    divisors: list[int] = []
    for index, measure in enumerate(spec.measures):
        divisor = 1
        if measure.source == MeasureSource.FIELD:
            value, divisor = _field_value(measure, today, attributes)
        elif measure.source == MeasureSource.CONDITION:
            try:
                aliases, condition = compile_rule(measure.rule, today=today, attributes=attributes)
            except RuleValidationError:
                # Validated on save; a custom attribute it names may have gone since: the
                # measure is then absent (its weight renormalized away), not a failed run.
                value = Value(None, output_field=IntegerField())
            else:
                accounts = accounts.alias(**aliases) if aliases else accounts
                value = Case(When(condition, then=Value(1)), default=Value(0))
        else:
            value = manual_score_expression(measure, today)
        annotations[f"v{index}"] = value
        divisors.append(divisor)
    rows = accounts.order_by().annotate(**annotations).values("id", *annotations)
    return rows, divisors


def _literal(value: Any) -> str:
    """A validated Decimal as a SQL number literal (digits, sign and point only)."""
    return dialect().number(f"'{format(value, 'f')}'")


def measure_score_sql(measure: MeasureSpec, raw: str, divisor: int) -> str:
    """The measure's score in hundredths (0 … 10000, NULL when absent) from its raw value
    ``raw`` (a column of the layer below)."""
    db = dialect()
    if measure.source == MeasureSource.CONDITION:
        return f"({raw} * {FULL})"
    if measure.source == MeasureSource.MANUAL:
        return f"({raw} * {MEASURE_SCALE})"
    if measure.bad is None or measure.good is None or measure.bad == measure.good:
        return "NULL"  # not usable (see _field_value): the measure is left out
    value = db.number(raw)
    if divisor != 1:
        value = f"({value} / {int(divisor)})"
    bad, good = _literal(measure.bad), _literal(measure.good)
    share = f"(({value} - {bad}) * {FULL} / ({good} - {bad}))"
    return (
        f"CASE WHEN {raw} IS NULL THEN NULL WHEN {share} <= 0 THEN 0 "
        f"WHEN {share} >= {FULL} THEN {FULL} ELSE {db.round_to_integer(share)} END"
    )


def target_select(
    spec: ScorecardSpec,
    accounts: QuerySet[Account],
    *,
    today: date,
    attributes: dict[str, AttributeSpec],
) -> tuple[str, list[Any]]:
    """SELECT account_id, scorecard_id, score, status, measures for the ``accounts`` that
    ``spec`` scores (already restricted by ``assigned_accounts``)."""
    db = dialect()
    rows, divisors = raw_values(spec, accounts, today=today, attributes=attributes)
    raw_sql, params = rows.query.sql_with_params()
    count = len(spec.measures)
    scores = ", ".join(
        f"{measure_score_sql(m, f'raw.v{i}', divisors[i])} AS s{i}"
        for i, m in enumerate(spec.measures)
    )
    weights = [m.weight_hundredths for m in spec.measures]
    numerator = " + ".join(
        f"COALESCE(s{i} * CAST({weights[i]} AS {db.bigint}), 0)" for i in range(count)
    )
    weight_sum = " + ".join(
        f"CASE WHEN s{i} IS NULL THEN 0 ELSE {weights[i]} END" for i in range(count)
    )
    denominator = f"({weight_sum}) * {MEASURE_SCALE}"
    score = (
        f"CASE WHEN ({weight_sum}) = 0 THEN NULL "
        f"ELSE (2 * ({numerator}) + {denominator}) / (2 * {denominator}) END"
    )
    measures = db.json_object_without_nulls(
        [(m.key, db.hundredths_as_number(f"s{i}")) for i, m in enumerate(spec.measures)]
    )
    status = (
        f"CASE WHEN t.score IS NULL THEN NULL WHEN t.score < {int(spec.red_below)} THEN 'red' "
        f"WHEN t.score >= {int(spec.green_from)} THEN 'green' ELSE 'yellow' END"
    )
    scorecard = "NULL" if spec.id is None else str(int(spec.id))
    sql = (
        f"SELECT t.account_id, {scorecard}, t.score, {status}, t.measures FROM ("
        f"SELECT ms.id AS account_id, {score} AS score, {measures} AS measures FROM ("
        f"SELECT raw.id, {scores} FROM ({raw_sql}{db.keep_subquery}) raw"
        f"{db.keep_subquery}) ms) t"
    )
    return sql, list(params)


def target_insert(
    spec: ScorecardSpec,
    earlier: Sequence[ScorecardSpec],
    *,
    base: QuerySet[Account],
    today: date,
    attributes: dict[str, AttributeSpec],
    cursor: Any,
) -> int:
    """Add to ``health_target`` the accounts of ``base`` that ``spec`` scores (those
    ``earlier`` scorecards take excluded); returns the rows written."""
    accounts = assigned_accounts(spec, earlier, base)
    sql, params = target_select(spec, accounts, today=today, attributes=attributes)
    cursor.execute(
        f"INSERT INTO {TARGET_TABLE} (account_id, scorecard_id, score, status, measures) {sql}",
        params,
    )
    return max(cursor.rowcount, 0)


def targets_fill(
    specs: Sequence[ScorecardSpec],
    *,
    base: QuerySet[Account],
    today: date,
    attributes: dict[str, AttributeSpec],
    cursor: Any,
) -> int:
    """Fill ``health_target`` with the target health of every account of ``base`` that one
    of ``specs`` (in assignment order) scores; returns the rows written. Accounts no
    scorecard takes get no row."""
    return sum(
        target_insert(
            spec, specs[:position], base=base, today=today, attributes=attributes, cursor=cursor
        )
        for position, spec in enumerate(specs)
    )


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

"""Compile a rule to a Django ``Q`` (plus the expressions it needs): the only part of the
rule engine that knows the ORM and SQL.

Only the typed tree from ``parse_rule`` reaches here, so only whitelisted fields and
operators become SQL, and values are always bound as parameters.

Null semantics: SQL comparisons with NULL are NULL, and ``NOT NULL`` is NULL, which would
make ``not`` drop accounts it should keep. So every leaf compiles to a condition that is
never NULL, and its negation is then exact: ``col IS NOT NULL AND col op v`` for columns
(index-friendly), ``COALESCE(expr op v, FALSE)`` for traits (the JSON value is extracted
and checked once per leaf). Trait expressions yield NULL for absent or malformed values
(the predicates of ``fields.coerce_value``), never an SQL error.

Exactness: ``mrr op v`` compiles to ``arr op v*12`` and ``seat_utilization op v`` to
``active_users * den op licensed_seats * num`` (v = num/den), so no division is rounded.
On PostgreSQL every comparison is exact; SQLite compares non-integers as doubles.
"""

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from django.db import NotSupportedError
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DecimalField,
    Expression,
    F,
    FloatField,
    Q,
    QuerySet,
    Value,
)
from django.db.models.expressions import OrderBy
from django.db.models.functions import Cast, Coalesce, NullIf
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    In,
    IsNull,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
    Range,
)

from .evaluator import shift_days
from .fields import (
    BOOLEAN,
    CHOICE,
    DATE,
    DECIMAL_TEXT_RE,
    FIELD_TYPES,
    INTEGER,
    ISO_DATE_RE,
    MAX_TRAIT_INTEGER,
    MONEY,
    NUMBER,
    TEXT,
    AttributeSpec,
    trait_key,
)
from .validation import (
    AllNode,
    Leaf,
    Node,
    NotNode,
    RuleError,
    RuleValidationError,
    parse_rule,
    rank_field_type,
)

# Always-true / always-false conditions as real SQL (an empty Q would be dropped by
# filter(), even negated, and an EmptyResultSet breaks callers that render the SQL).
TRUE = Q(pk__isnull=False)
FALSE = Q(pk__isnull=True)

_TRAIT_OUTPUT_FIELDS = {
    TEXT: CharField,
    CHOICE: CharField,
    INTEGER: BigIntegerField,
    NUMBER: DecimalField,
    MONEY: DecimalField,
    DATE: DateField,
    BOOLEAN: BooleanField,
}


class TraitValue(Expression):
    """``Account.traits[key]`` typed as ``kind``, NULL when absent or when it does not
    parse for the type: the SQL twin of ``fields.coerce_value``. Guards (JSON type and a
    regular expression) are checked before any cast, so no value can make the query fail.
    """

    def __init__(self, key: str, kind: str, source: str = "traits") -> None:
        super().__init__(output_field=_TRAIT_OUTPUT_FIELDS[kind]())
        self.key = key
        self.kind = kind
        self.source = F(source)

    def get_source_expressions(self) -> list:
        return [self.source]

    def set_source_expressions(self, exprs: list) -> None:
        (self.source,) = exprs

    def as_sql(self, compiler, connection, **extra_context) -> tuple[str, list]:
        column, column_params = compiler.compile(self.source)
        if connection.vendor == "postgresql":
            return self._postgresql(column, list(column_params))
        if connection.vendor == "sqlite":
            return self._sqlite(column, list(column_params))
        raise NotSupportedError(f"traits in rules are not supported on {connection.vendor}")

    def _postgresql(self, column: str, cp: list) -> tuple[str, list]:
        kind, key = self.kind, self.key
        typeof = f"jsonb_typeof({column} -> %s)"
        typeof_params = [*cp, key]
        text = f"({column} ->> %s)"
        text_params = [*cp, key]
        if kind in (TEXT, CHOICE):
            return (
                f"CASE WHEN {typeof} = 'string' THEN {text} END",
                [*typeof_params, *text_params],
            )
        if kind == INTEGER:
            # A JSON number is an integer of at most 18 digits when its numeric value has
            # no decimals (jsonb prints numbers without exponents, so this is exactly the
            # text test of INTEGER_TEXT_RE) and is within MAX_TRAIT_INTEGER; several times
            # cheaper than the regular expression, which weighs on a pass over every
            # account.
            number = f"({column} -> %s)::numeric"
            number_params = [*cp, key]
            return (
                f"CASE WHEN {typeof} = 'number' AND scale({number}) = 0 "
                f"AND abs({number}) <= %s THEN ({number})::bigint END",
                [
                    *typeof_params,
                    *number_params,
                    *number_params,
                    MAX_TRAIT_INTEGER,
                    *number_params,
                ],
            )
        if kind in (NUMBER, MONEY):
            return (
                f"CASE WHEN {typeof} = 'number' THEN ({text})::numeric"
                f" WHEN {typeof} = 'string' AND {text} ~ %s THEN ({text})::numeric END",
                [
                    *typeof_params,
                    *text_params,
                    *typeof_params,
                    *text_params,
                    DECIMAL_TEXT_RE,
                    *text_params,
                ],
            )
        if kind == DATE:
            return (
                f"CASE WHEN {typeof} = 'string' AND {text} ~ %s THEN ({text})::date END",
                [*typeof_params, *text_params, ISO_DATE_RE, *text_params],
            )
        return (
            f"CASE WHEN {typeof} = 'boolean' THEN ({text})::boolean END",
            [*typeof_params, *text_params],
        )

    def _sqlite(self, column: str, cp: list) -> tuple[str, list]:
        kind = self.kind
        path = '$."' + self.key + '"'
        jtype = f"json_type({column}, %s)"
        extract = f"json_extract({column}, %s)"
        p = [*cp, path]
        if kind in (TEXT, CHOICE):
            return f"CASE WHEN {jtype} = 'text' THEN {extract} END", [*p, *p]
        if kind == INTEGER:
            bound = MAX_TRAIT_INTEGER
            return (
                f"CAST(CASE WHEN {jtype} = 'integer' AND {extract} BETWEEN -{bound} AND {bound}"
                f" THEN {extract} END AS INTEGER)",
                [*p, *p, *p],
            )
        if kind in (NUMBER, MONEY):
            # CAST gives the result NUMERIC affinity, so Decimal parameters (bound as text
            # by Django) are compared as numbers.
            return (
                f"CAST(CASE WHEN {jtype} IN ('integer', 'real') THEN {extract}"
                f" WHEN {jtype} = 'text' AND {extract} REGEXP %s THEN {extract} END AS NUMERIC)",
                [*p, *p, *p, *p, DECIMAL_TEXT_RE, *p],
            )
        if kind == DATE:
            # SQLite keeps dates as ISO text; a valid ISO date string compares as a date.
            return (
                f"CASE WHEN {jtype} = 'text' AND {extract} REGEXP %s THEN {extract} END",
                [*p, *p, ISO_DATE_RE, *p],
            )
        return f"CASE {jtype} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END", [*p]


CSM_ALIAS = "rule_csm"

# Rule operator → (primitive lookup, whether the leaf is the negation of that lookup).
_PRIMITIVES = {
    "eq": ("exact", False),
    "ne": ("exact", True),
    "in": ("in", False),
    "not_in": ("in", True),
    "gt": ("gt", False),
    "gte": ("gte", False),
    "lt": ("lt", False),
    "lte": ("lte", False),
    "after": ("gt", False),
    "on_or_after": ("gte", False),
    "before": ("lt", False),
    "on_or_before": ("lte", False),
    "between": ("range", False),
    "contains": ("icontains", False),
    "starts_with": ("istartswith", False),
    "within_next_days": ("range", False),
    "within_last_days": ("range", False),
    "more_than_days_ago": ("lt", False),
    "more_than_days_ahead": ("gt", False),
}

_LOOKUP_CLASSES = {
    "exact": Exact,
    "in": In,
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
    "lt": LessThan,
    "lte": LessThanOrEqual,
    "range": Range,
    "icontains": IContains,
    "istartswith": IStartsWith,
}


class _Column:
    """A field read through a lookup path (a column, or the csm alias); values scaled by
    ``scale`` (mrr: arr compared with value × 12). Leaves are ``present AND lookup``, which
    keeps the column's indexes usable."""

    def __init__(self, lookup: str, *, scale: int = 1, kind: str = TEXT) -> None:
        self.lookup = lookup
        self.scale = scale
        self.kind = kind

    def present(self) -> Q:
        return Q(**{f"{self.lookup}__isnull": False})

    def null(self) -> Q:
        return Q(**{f"{self.lookup}__isnull": True})

    def _rhs(self, value: object) -> object:
        if self.scale != 1:
            value = value * self.scale  # type: ignore[operator]
        if self.kind == INTEGER:
            # A Value keeps Django from turning an out-of-column-range integer into an
            # EmptyResultSet/FullResultSet, which breaks callers that render the SQL.
            return Value(value)
        return value

    def compare(self, lookup: str, value: object, negated: bool) -> Q:
        if lookup in ("in", "range"):
            rhs: object = [self._rhs(item) for item in value]  # type: ignore[attr-defined]
        else:
            rhs = self._rhs(value)
        condition = Q(**{f"{self.lookup}__{lookup}": rhs})
        return self.present() & (~condition if negated else condition)


class _Trait:
    """A typed trait expression. Each leaf reads it once: ``COALESCE(expr op v, FALSE)``
    (or ``NOT COALESCE(expr op v, TRUE)`` for ne/not_in), which is never NULL; extracting
    and checking a JSON value costs far more per row than a column comparison."""

    def __init__(self, key: str, kind: str) -> None:
        self.key = key
        self.kind = kind

    def expression(self) -> TraitValue:
        return TraitValue(self.key, self.kind)

    def present(self) -> Q:
        return Q(IsNull(self.expression(), False))

    def null(self) -> Q:
        return Q(IsNull(self.expression(), True))

    def compare(self, lookup: str, value: object, negated: bool) -> Q:
        rhs = list(value) if lookup in ("in", "range") else value  # type: ignore[call-overload]
        condition = _LOOKUP_CLASSES[lookup](self.expression(), rhs)
        if negated:
            return ~Q(Coalesce(condition, Value(True)))
        return Q(Coalesce(condition, Value(False)))


class _SeatUtilization:
    """active_users / licensed_seats, compared without dividing:
    ``a / s op num / den`` ⇔ ``a * den op s * num`` for s > 0."""

    def present(self) -> Q:
        return Q(licensed_seats__isnull=False, licensed_seats__gt=0, active_users__isnull=False)

    def null(self) -> Q:
        return Q(licensed_seats__isnull=True) | Q(licensed_seats=0) | Q(active_users__isnull=True)

    def _cross(self, lookup: str, value: object) -> Q:
        num, den = Decimal(value).as_integer_ratio()  # type: ignore[arg-type]
        lhs = F("active_users") * Value(Decimal(den), output_field=DecimalField())
        rhs = F("licensed_seats") * Value(Decimal(num), output_field=DecimalField())
        return Q(_LOOKUP_CLASSES[lookup](lhs, rhs))

    def compare(self, lookup: str, value: object, negated: bool) -> Q:
        if lookup == "in":
            condition = FALSE
            for index, item in enumerate(value):  # type: ignore[attr-defined]
                exact = self._cross("exact", item)
                condition = exact if index == 0 else condition | exact
        elif lookup == "range":
            low, high = value  # type: ignore[misc]
            condition = self._cross("gte", low) & self._cross("lte", high)
        else:
            condition = self._cross(lookup, value)
        return self.present() & (~condition if negated else condition)


class _Compiler:
    def __init__(self, today: date) -> None:
        self.today = today
        self.annotations: dict[str, Expression] = {}

    def target(self, leaf: Leaf) -> _Column | _Trait | _SeatUtilization:
        key = trait_key(leaf.field)
        if key is not None:
            return _Trait(key, leaf.type)
        if leaf.field == "mrr":
            return _Column("arr", scale=12, kind=MONEY)
        if leaf.field == "seat_utilization":
            return _SeatUtilization()
        if leaf.field == "csm":
            # An alias keeps the LEFT OUTER JOIN to the owner whatever the rule's shape.
            self.annotations[CSM_ALIAS] = F("owner__username")
            return _Column(CSM_ALIAS)
        return _Column(leaf.field, kind=FIELD_TYPES[leaf.field])

    def node(self, node: Node) -> Q:
        if isinstance(node, Leaf):
            return self.leaf(node)
        if isinstance(node, NotNode):
            return ~self.node(node.child)
        if isinstance(node, AllNode):
            result = TRUE
            for index, child in enumerate(node.children):
                result = self.node(child) if index == 0 else result & self.node(child)
            return result
        result = FALSE
        for index, child in enumerate(node.children):
            result = self.node(child) if index == 0 else result | self.node(child)
        return result

    def operand(self, leaf: Leaf) -> object:
        """The value of the primitive lookup; relative dates become absolute ones."""
        today, value = self.today, leaf.value
        match leaf.op:
            case "within_next_days":
                return (today, shift_days(today, value))  # type: ignore[arg-type]
            case "within_last_days":
                return (shift_days(today, -value), today)  # type: ignore[operator]
            case "more_than_days_ago":
                return shift_days(today, -value)  # type: ignore[operator]
            case "more_than_days_ahead":
                return shift_days(today, value)  # type: ignore[arg-type]
        return value

    def leaf(self, leaf: Leaf) -> Q:
        target = self.target(leaf)
        if leaf.op == "is_null":
            return target.null()
        if leaf.op == "is_not_null":
            return target.present()
        lookup, negated = _PRIMITIVES[leaf.op]
        return target.compare(lookup, self.operand(leaf), negated)


def compile_node(node: Node, *, today: date) -> tuple[dict[str, Expression], Q]:
    """Compile an already parsed rule (see ``parse_rule``)."""
    compiler = _Compiler(today)
    condition = compiler.node(node)
    return compiler.annotations, condition


def compile_rule(
    rule: object, *, today: date, attributes: Mapping[str, AttributeSpec] | None = None
) -> tuple[dict[str, Expression], Q]:
    """Validate and compile ``rule``: the expressions to ``.alias()`` (or annotate) on an
    Account queryset, and the ``Q`` to filter it by. Raises RuleValidationError."""
    return compile_node(parse_rule(rule, attributes=attributes), today=today)


def rule_queryset(
    rule: object,
    *,
    today: date,
    attributes: Mapping[str, AttributeSpec] | None = None,
    base: QuerySet | None = None,
) -> QuerySet:
    """The accounts of ``base`` (default: all accounts) that match ``rule``, as one query.
    The expressions the rule needs are added with ``.alias()`` (not selected)."""
    if base is None:
        from customers.models import Account

        base = Account.objects.all()
    annotations, condition = compile_rule(rule, today=today, attributes=attributes)
    if annotations:
        base = base.alias(**annotations)
    return base.filter(condition)


def rank_order_by(
    rank_by: str, *, attributes: Mapping[str, AttributeSpec] | None = None
) -> list[OrderBy]:
    """Ordering for "top N by ``rank_by``": descending, nulls last, ties by id ascending.
    Raises RuleValidationError (path ``rank_by``) for a field that cannot rank."""
    kind = rank_field_type(rank_by, attributes) if isinstance(rank_by, str) else None
    if kind is None:
        raise RuleValidationError(
            [
                RuleError(
                    "rank_by",
                    f"cannot rank by {rank_by!r}; expected a numeric, money or date field",
                )
            ]
        )
    key = trait_key(rank_by)
    if key is not None:
        expression: Expression = TraitValue(key, kind)
    elif rank_by == "mrr":
        expression = F("arr")
    elif rank_by == "seat_utilization":
        expression = Cast("active_users", FloatField()) / NullIf(F("licensed_seats"), Value(0))
    else:
        expression = F(rank_by)
    return [expression.desc(nulls_last=True), F("id").asc()]

"""Compile a rule to a Django ``Q`` (plus the expressions it needs): the only part of the
rule engine that knows the ORM and SQL.

Only the typed tree from ``parse_rule`` reaches here, so only whitelisted fields and
operators become SQL, and values are always bound as parameters.

Null semantics: SQL comparisons with NULL are NULL, and ``NOT NULL`` is NULL, which would
make ``not`` drop accounts it should keep. So every leaf compiles to a condition that is
never NULL, and its negation is then exact: ``col IS NOT NULL AND col op v`` for columns
(index-friendly), ``COALESCE(expr op v, FALSE)`` for traits (the JSON value is extracted
and checked once per leaf). Trait expressions yield NULL for absent or malformed values
(the predicates of ``vocabulary.coerce_value``), never an SQL error.

What a field compiles to comes from its registered source (``sources``): a column, a
related column, a ratio of two columns, a JSON key, an expression its app computes, or a
set its app computes (``EXISTS`` subqueries on its (subject, element) pairs).

Exactness: a column divided by a constant (``mrr`` = arr / 12) compiles to ``arr op v*12``
and a ratio (``seat_utilization``) to ``active_users * den op licensed_seats * num``
(v = num/den), so no division is rounded. On PostgreSQL every comparison is exact; SQLite
compares non-integers as doubles.
"""

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    Count,
    DateField,
    DecimalField,
    Exists,
    Expression,
    F,
    FloatField,
    OuterRef,
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

from cs_platform.db import dialect

from .evaluator import shift_days
from .registry import AttributeSpec, RuleField, registry
from .sources import Computed, ComputedSet, JsonKey, Ratio, Source
from .validation import (
    AllNode,
    Leaf,
    Node,
    NotNode,
    RuleError,
    RuleValidationError,
    parse_rule,
    rank_field,
)
from .vocabulary import (
    BOOLEAN,
    CHOICE,
    DATE,
    DECIMAL_TEXT_RE,
    INTEGER,
    ISO_DATE_RE,
    MAX_TRAIT_INTEGER,
    MONEY,
    NUMBER,
    TEXT,
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
    parse for the type: the SQL twin of ``vocabulary.coerce_value``. Guards (JSON type and a
    regular expression) are checked before any cast, so no value can make the query fail.
    """

    def __init__(self, key: str, kind: str, source: str) -> None:
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
        sql = dialect(connection)
        params = list(column_params)
        if self.kind in (TEXT, CHOICE):
            return sql.json_text(column, params, self.key)
        if self.kind == INTEGER:
            return sql.json_integer(column, params, self.key, MAX_TRAIT_INTEGER)
        if self.kind in (NUMBER, MONEY):
            return sql.json_decimal(column, params, self.key, DECIMAL_TEXT_RE)
        if self.kind == DATE:
            return sql.json_date(column, params, self.key, ISO_DATE_RE)
        return sql.json_boolean(column, params, self.key)


# Related columns and computed values are compared through an alias named after the field.
ALIAS_PREFIX = "rule_"


def field_alias(name: str) -> str:
    """``csm`` → ``rule_csm``: the alias a related or computed field is selected under."""
    return ALIAS_PREFIX + name.replace(".", "_").replace("-", "_")


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
    """A field read through a lookup path (a column, or an alias); values scaled by
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

    def __init__(self, column: str, key: str, kind: str) -> None:
        self.column = column
        self.key = key
        self.kind = kind

    def expression(self) -> TraitValue:
        return TraitValue(self.key, self.kind, self.column)

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


class _Ratio:
    """numerator / denominator (seat_utilization = active_users / licensed_seats), compared
    without dividing: ``a / s op num / den`` ⇔ ``a * den op s * num`` for s > 0."""

    def __init__(self, numerator: str, denominator: str) -> None:
        self.numerator = numerator
        self.denominator = denominator

    def present(self) -> Q:
        return Q(
            **{
                f"{self.denominator}__isnull": False,
                f"{self.denominator}__gt": 0,
                f"{self.numerator}__isnull": False,
            }
        )

    def null(self) -> Q:
        return (
            Q(**{f"{self.denominator}__isnull": True})
            | Q(**{self.denominator: 0})
            | Q(**{f"{self.numerator}__isnull": True})
        )

    def _cross(self, lookup: str, value: object) -> Q:
        num, den = Decimal(value).as_integer_ratio()  # type: ignore[arg-type]
        lhs = F(self.numerator) * Value(Decimal(den), output_field=DecimalField())
        rhs = F(self.denominator) * Value(Decimal(num), output_field=DecimalField())
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


class _Set:
    """A set-valued field (``ComputedSet``): each leaf is an ``EXISTS`` / ``IN`` subquery on
    the (subject, element) pairs, which is never NULL, so ``not`` negates it exactly."""

    def __init__(self, members: QuerySet) -> None:
        self.members = members

    def _has(self, **lookups: object) -> Q:
        return Q(Exists(self.members.filter(subject=OuterRef("pk"), **lookups)))

    def leaf(self, op: str, value: object) -> Q:
        match op:
            case "is_null":
                return ~self._has()
            case "contains":
                return self._has(element=value)
            case "not_contains":
                return ~self._has(element=value)
            case "contains_any":
                return self._has(element__in=list(value))  # type: ignore[call-overload]
            case "contains_all":
                wanted = sorted(set(value))  # type: ignore[call-overload]
                holders = (
                    self.members.filter(element__in=wanted)
                    .values("subject")
                    .annotate(found=Count("element", distinct=True))
                    .filter(found=len(wanted))
                    .values("subject")
                )
                return Q(pk__in=holders)
        raise AssertionError(f"unhandled set operator {op}")  # pragma: no cover


class _Compiler:
    def __init__(self, today: date) -> None:
        self.today = today
        self.annotations: dict[str, Expression] = {}

    def target(self, leaf: Leaf) -> _Column | _Trait | _Ratio:
        source = leaf.source
        if isinstance(source, JsonKey):
            return _Trait(source.column, source.key, leaf.type)
        if isinstance(source, Ratio):
            return _Ratio(source.numerator, source.denominator)
        if isinstance(source, Computed):
            if source.joined is None:
                self.annotations[source.alias] = source.expression(self.today)
            else:
                # The relations first: the expression refers to them.
                relations, expression = source.joined(self.today)
                for alias, relation in relations.items():
                    self.annotations.setdefault(alias, relation)
                self.annotations[source.alias] = expression
            return _Column(source.alias, kind=leaf.type)
        if source.is_related:
            # An alias keeps the LEFT OUTER JOIN to the related row whatever the rule's shape.
            alias = field_alias(leaf.field)
            self.annotations[alias] = F(source.path)
            return _Column(alias, scale=source.divide_by, kind=leaf.type)
        return _Column(source.path, scale=source.divide_by, kind=leaf.type)

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
        if isinstance(leaf.source, ComputedSet):
            return _Set(leaf.source.members(self.today)).leaf(leaf.op, leaf.value)
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
    """The subjects of ``base`` (default: every account, the registered subject) that match
    ``rule``, as one query. The expressions the rule needs are added with ``.alias()``
    (not selected)."""
    if base is None:
        base = registry.subject_queryset()
    annotations, condition = compile_rule(rule, today=today, attributes=attributes)
    if annotations:
        base = base.alias(**annotations)
    return base.filter(condition)


def source_expression(source: Source, kind: str, today: date) -> Expression:
    """The value of ``source`` as one expression (for ordering)."""
    if isinstance(source, JsonKey):
        return TraitValue(source.key, kind, source.column)
    if isinstance(source, Ratio):
        numerator = Cast(source.numerator, FloatField())
        return numerator / NullIf(F(source.denominator), Value(0))
    if isinstance(source, Computed):
        return source.expression(today)
    # A column divided by a positive constant orders as the column itself.
    return F(source.path)


def rank_order_by(
    rank_by: str,
    *,
    attributes: Mapping[str, AttributeSpec] | None = None,
    today: date | None = None,
) -> list[OrderBy]:
    """Ordering for "top N by ``rank_by``": descending, nulls last, ties by id ascending.
    Raises RuleValidationError (path ``rank_by``) for a field that cannot rank. ``today``
    matters only for computed fields (default: the system date)."""
    rule_field: RuleField | None = (
        rank_field(rank_by, attributes) if isinstance(rank_by, str) else None
    )
    if rule_field is None:
        raise RuleValidationError(
            [
                RuleError(
                    "rank_by",
                    f"cannot rank by {rank_by!r}; expected a numeric, money or date field",
                )
            ]
        )
    expression = source_expression(rule_field.source, rule_field.type, today or date.today())
    return [expression.desc(nulls_last=True), F("id").asc()]

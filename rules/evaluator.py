"""The in-memory evaluator (for explain, preview samples and tests) and the values it reads.

Null semantics (DESIGN 3.3): every comparison with a null value is false, except
``is_null``; so ``ne`` and ``not_in`` do not match nulls. ``not`` is the plain negation of
its child's result: a child that is false because of a null makes ``not`` true.
``all: []`` is true, ``any: []`` is false. Text ``eq``/``in`` are case-sensitive,
``contains``/``starts_with`` are not. A set (``products``) is never null: ``is_null`` is
true for the empty set, and its element tests are exact (case-sensitive). Numbers and money compare exactly (int / Decimal).
"""

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from decimal import Decimal

from .registry import UNKNOWN, AttributeSpec, RuleField, registry
from .sources import DIVISION, Column, Computed, ComputedSet
from .validation import AllNode, AnyNode, Leaf, Node, NotNode, parse_rule, rule_field_names
from .vocabulary import BOOLEAN, DATE, INTEGER, NUMBER, SET, TEXT, TRAIT_PREFIX, coerce_value

# Explain shows Decimal actual values as strings; long quotients are shown to 6 places.
_DISPLAY_PLACES = Decimal("0.000001")


def shift_days(day: date, days: int) -> date:
    """``day`` + ``days``, clamped to the representable dates (so a far offset never
    overflows; clamping does not change any comparison's result)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


class InferredAttributes(Mapping):
    """Trait types inferred from already-typed values, for callers that evaluate without
    the attribute definitions (values as built by ``account_rule_values``)."""

    def __init__(self, values: Mapping[str, object]) -> None:
        self.values = values

    def __getitem__(self, key: str) -> AttributeSpec:
        value = self.values.get(TRAIT_PREFIX + key)
        if isinstance(value, bool):
            kind = BOOLEAN
        elif isinstance(value, int):
            kind = INTEGER
        elif isinstance(value, Decimal | float):
            kind = NUMBER
        elif isinstance(value, date):
            kind = DATE
        elif isinstance(value, str):
            kind = TEXT
        else:
            kind = UNKNOWN
        return AttributeSpec(key=key, type=kind)

    def __iter__(self) -> Iterator[str]:
        return (name[len(TRAIT_PREFIX) :] for name in self.values if name.startswith(TRAIT_PREFIX))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _parse(
    rule: object, values: Mapping[str, object], attributes: Mapping[str, AttributeSpec] | None
) -> Node:
    return parse_rule(
        rule, attributes=attributes if attributes is not None else InferredAttributes(values)
    )


def _actual(leaf: Leaf, values: Mapping[str, object]) -> object:
    if leaf.type == UNKNOWN:
        return values.get(leaf.field)
    return coerce_value(leaf.type, values.get(leaf.field))


def _set_matches(op: str, actual: frozenset, value: object) -> bool:
    match op:
        case "is_null":
            return not actual
        case "contains":
            return value in actual
        case "not_contains":
            return value not in actual
        case "contains_any":
            return not actual.isdisjoint(value)  # type: ignore[arg-type]
        case "contains_all":
            return actual.issuperset(value)  # type: ignore[arg-type]
    raise AssertionError(f"unhandled set operator {op}")  # pragma: no cover


def _leaf_matches(leaf: Leaf, actual: object, today: date) -> bool:
    op, value = leaf.op, leaf.value
    if leaf.type == SET:
        return _set_matches(op, actual, value)  # type: ignore[arg-type]
    if op == "is_null":
        return actual is None
    if op == "is_not_null":
        return actual is not None
    if actual is None or leaf.type == UNKNOWN:
        return False
    match op:
        case "eq":
            return actual == value
        case "ne":
            return actual != value
        case "in":
            return actual in value
        case "not_in":
            return actual not in value
        case "gt" | "after":
            return actual > value
        case "gte" | "on_or_after":
            return actual >= value
        case "lt" | "before":
            return actual < value
        case "lte" | "on_or_before":
            return actual <= value
        case "between":
            low, high = value
            return low <= actual <= high
        case "contains":
            return value.lower() in actual.lower()
        case "starts_with":
            return actual.lower().startswith(value.lower())
        case "within_next_days":
            return today <= actual <= shift_days(today, value)
        case "within_last_days":
            return shift_days(today, -value) <= actual <= today
        case "more_than_days_ago":
            return actual < shift_days(today, -value)
        case "more_than_days_ahead":
            return actual > shift_days(today, value)
    raise AssertionError(f"unhandled operator {op}")  # pragma: no cover


def evaluate_node(node: Node, values: Mapping[str, object], today: date) -> bool:
    """Evaluate an already parsed rule (see ``parse_rule``) against ``values``."""
    if isinstance(node, Leaf):
        return _leaf_matches(node, _actual(node, values), today)
    if isinstance(node, AllNode):
        return all(evaluate_node(child, values, today) for child in node.children)
    if isinstance(node, AnyNode):
        return any(evaluate_node(child, values, today) for child in node.children)
    return not evaluate_node(node.child, values, today)


def evaluate_rule(
    rule: object,
    values: Mapping[str, object],
    *,
    today: date,
    attributes: Mapping[str, AttributeSpec] | None = None,
) -> bool:
    """Whether an account with these ``values`` (built-in field names and ``traits.KEY``,
    see ``account_rule_values``) matches ``rule``. Without ``attributes`` the trait types
    are inferred from the typed values. Raises RuleValidationError for an invalid rule."""
    return evaluate_node(_parse(rule, values, attributes), values, today)


def json_actual(value: object) -> object:
    """A rule value as JSON: Decimal → string ("120000.00"; at most 6 decimal places
    shown), date → ISO string, a set → sorted list, None → null; str, int, bool
    unchanged."""
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -6:
            value = value.quantize(_DISPLAY_PLACES, context=DIVISION)
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    return value


def _explain(raw: dict, node: Node, values: Mapping[str, object], today: date) -> dict:
    if isinstance(node, Leaf):
        actual = _actual(node, values)
        return {
            **raw,
            "matched": _leaf_matches(node, actual, today),
            "actual": json_actual(actual),
        }
    if isinstance(node, NotNode):
        child = _explain(raw["not"], node.child, values, today)
        return {"not": child, "matched": not child["matched"]}
    kind = "all" if isinstance(node, AllNode) else "any"
    children = [
        _explain(item, child, values, today)
        for item, child in zip(raw[kind], node.children, strict=True)
    ]
    matched = [child["matched"] for child in children]
    return {kind: children, "matched": all(matched) if kind == "all" else any(matched)}


def explain_rule(
    rule: object,
    values: Mapping[str, object],
    *,
    today: date,
    attributes: Mapping[str, AttributeSpec] | None = None,
) -> dict:
    """The rule with ``"matched"`` added at every node (children evaluated even when a
    sibling already decided the result) and each leaf also carrying ``"actual"``, the
    account's value as JSON (see ``json_actual``)."""
    node = _parse(rule, values, attributes)
    return _explain(rule, node, values, today)  # type: ignore[arg-type]


def field_value(rule_field: RuleField, subject: object, today: date | None = None) -> object:
    """The typed value of one field for ``subject``, read from the field's source."""
    source = rule_field.source
    if isinstance(source, Computed | ComputedSet):
        return coerce_value(rule_field.type, source.read(subject, today))
    if isinstance(source, Column) and source.divide_by != 1:
        # Typed as the column (money), then divided exactly: mrr = arr / 12, unrounded.
        return source.scale(coerce_value(rule_field.type, source.read(subject)))
    return coerce_value(rule_field.type, source.read(subject))


def account_rule_values(
    account: object,
    *,
    attributes: Mapping[str, AttributeSpec] | None = None,
    today: date | None = None,
    rule: object = None,
) -> dict[str, object]:
    """The values a rule sees for an account (a customers.models.Account, duck-typed):
    every registered field read from its source, and ``traits.KEY`` for each declared
    attribute, coerced to its type (a value that does not parse for the declared type is
    None). ``today`` matters only for computed fields (default: the system date).

    Fields of on-demand families (``usage.KEY.sum_30d``: they read their own tables) are
    read only when ``rule`` names them, so pass the rule you will evaluate or explain.

    With the ``customers`` fields: columns as stored; ``mrr`` = arr / 12 (not rounded);
    ``csm`` = the owner's username (use ``select_related("owner")`` for many accounts);
    ``seat_utilization`` = active_users / licensed_seats, None without seats.
    """
    fields = registry.all_fields(attributes)
    if rule is not None:
        fields += registry.on_demand_fields(rule_field_names(rule), attributes)
    return {rule_field.name: field_value(rule_field, account, today) for rule_field in fields}

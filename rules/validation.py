"""Validation of a rule (DESIGN 3.5) into a typed rule tree.

``parse_rule`` is the single gate: it checks the whole rule, collects every error with the
path of the node at fault (``all[2].value: expected a number, got "abc"``), and returns
the typed tree that the evaluator and the compiler walk. Nothing else reads raw rule JSON.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from decimal import Decimal

from .registry import UNKNOWN, AttributeSpec, RuleField, registry
from .sources import Computed, Source
from .vocabulary import (
    ALL_OPERATORS,
    BOOLEAN,
    CHOICE,
    DATE,
    INTEGER,
    MAX_DAYS,
    MAX_DECIMAL_PLACES,
    MAX_LIST_ITEMS,
    MAX_NUMBER,
    MAX_TEXT_LENGTH,
    MONEY,
    NULL_OPERATORS,
    NUMBER,
    OPERATORS_BY_TYPE,
    RELATIVE_DATE_OPERATORS,
    TEXT,
    decimal_from_number,
    parse_iso_date,
)

MAX_DEPTH = 10
MAX_NODES = 200
MAX_RANK_LIMIT = 1_000_000
COMBINATORS = ("all", "any", "not")
NODE_KINDS = (*COMBINATORS, "field")


@dataclass(frozen=True)
class RuleError:
    """One problem in a rule: where (``all[2].value``; ``""`` for the root) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RuleValidationError(ValueError):
    """A rule (or a ranking) is not valid; ``errors`` lists every problem found."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(error) for error in self.errors))

    def __str__(self) -> str:
        return "; ".join(str(error) for error in self.errors)

    def as_list(self) -> list[dict[str, str]]:
        """JSON-ready ``[{"path": ..., "message": ...}]`` for API error bodies."""
        return [{"path": error.path, "message": error.message} for error in self.errors]


# --- the typed rule tree ------------------------------------------------------------------


@dataclass(frozen=True)
class AllNode:
    children: tuple["Node", ...]


@dataclass(frozen=True)
class AnyNode:
    children: tuple["Node", ...]


@dataclass(frozen=True)
class NotNode:
    child: "Node"


@dataclass(frozen=True)
class Leaf:
    """A comparison. ``value`` is typed: int, Decimal, str, date or bool; a ``(low, high)``
    tuple for ``between``; a tuple for ``in``/``not_in``; an int N of days for the relative
    date operators; None for ``is_null``/``is_not_null``."""

    field: str
    type: str
    op: str
    value: object = None
    # The registered field the name resolved to: where the value comes from.
    rule_field: RuleField | None = dataclass_field(default=None, compare=False, repr=False)

    @property
    def source(self) -> Source:
        if self.rule_field is None:
            raise ValueError(f"leaf {self.field!r} was not resolved against the registry")
        return self.rule_field.source


Node = AllNode | AnyNode | NotNode | Leaf


def node_depends_on_today(node: Node) -> bool:
    """Whether the rule's result can change when only the calendar moves: a relative date
    operator (``within_last_days`` ...) or a computed field (its value is built for a
    "today", e.g. a usage window)."""
    if isinstance(node, Leaf):
        return node.op in RELATIVE_DATE_OPERATORS or isinstance(node.source, Computed)
    if isinstance(node, NotNode):
        return node_depends_on_today(node.child)
    return any(node_depends_on_today(child) for child in node.children)


# --- helpers ------------------------------------------------------------------------------


def _show(value: object) -> str:
    """A value as it looks in JSON, shortened for messages."""
    if isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, date):
        text = json.dumps(value.isoformat())
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Parser:
    def __init__(self, attributes: Mapping[str, AttributeSpec] | None) -> None:
        self.attributes = attributes or {}
        self.errors: list[RuleError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(RuleError(path, message))

    def node(self, raw: object, path: str, depth: int) -> Node | None:
        if depth > MAX_DEPTH:
            self.error(path, f"rule is too deep (more than {MAX_DEPTH} levels)")
            return None
        if not isinstance(raw, dict):
            self.error(path, f"expected a rule object, got {_show(raw)}")
            return None
        kinds = [kind for kind in NODE_KINDS if kind in raw]
        if not kinds:
            self.error(path, 'expected an object with "all", "any", "not" or "field"')
            return None
        if len(kinds) > 1:
            self.error(
                path, f"expected exactly one of all, any, not, field; got {', '.join(kinds)}"
            )
            return None
        kind = kinds[0]
        allowed = ("field", "op", "value") if kind == "field" else (kind,)
        for key in raw:
            if key not in allowed:
                self.error(_join(path, str(key)), "unknown key")
        if kind == "field":
            return self.leaf(raw, path)
        if kind == "not":
            child = self.node(raw["not"], _join(path, "not"), depth + 1)
            return NotNode(child) if child is not None else None
        items = raw[kind]
        list_path = _join(path, kind)
        if not isinstance(items, list):
            self.error(list_path, f"expected a list of rules, got {_show(items)}")
            return None
        children = [
            self.node(item, f"{list_path}[{index}]", depth + 1) for index, item in enumerate(items)
        ]
        if any(child is None for child in children):
            return None
        return (AllNode if kind == "all" else AnyNode)(tuple(children))

    def leaf(self, raw: dict, path: str) -> Leaf | None:
        name = raw["field"]
        field_path = _join(path, "field")
        kind: str | None = None
        rule_field: RuleField | None = None
        if not isinstance(name, str):
            self.error(field_path, f"expected a field name, got {_show(name)}")
        else:
            rule_field = registry.get(name, self.attributes)
            family = registry.family_of(name)
            if rule_field is not None:
                kind = rule_field.type
            elif family is not None:
                self.error(field_path, f"{family.unknown_message} {_show(name)}")
            else:
                self.error(field_path, f"unknown field {_show(name)}")

        op_path = _join(path, "op")
        op = raw.get("op")
        if "op" not in raw:
            self.error(op_path, "missing operator")
            return None
        if not isinstance(op, str) or op not in ALL_OPERATORS:
            self.error(op_path, f"unknown operator {_show(op)}")
            return None
        if kind is None:
            return None
        if kind != UNKNOWN and op not in OPERATORS_BY_TYPE[kind]:
            allowed = ", ".join(OPERATORS_BY_TYPE[kind])
            self.error(
                op_path,
                f'operator "{op}" is not allowed for {kind} field "{name}"; allowed: {allowed}',
            )
            return None

        value_path = _join(path, "value")
        if op in NULL_OPERATORS:
            if "value" in raw:
                self.error(value_path, f'operator "{op}" takes no value')
                return None
            return Leaf(name, kind, op, rule_field=rule_field)
        if "value" not in raw:
            self.error(value_path, "missing value")
            return None
        count = len(self.errors)
        value = self.operand(rule_field, op, raw["value"], value_path)
        if len(self.errors) > count:
            return None
        return Leaf(name, kind, op, value, rule_field=rule_field)

    def operand(self, rule_field: RuleField, op: str, raw: object, path: str) -> object:
        if rule_field.type == UNKNOWN:
            return raw
        if op in RELATIVE_DATE_OPERATORS:
            return self.days(raw, path)
        if op == "between":
            if not isinstance(raw, list) or len(raw) != 2:
                self.error(path, f"expected a list [low, high], got {_show(raw)}")
                return None
            low = self.scalar(rule_field, raw[0], f"{path}[0]")
            high = self.scalar(rule_field, raw[1], f"{path}[1]")
            if low is not None and high is not None and low > high:
                self.error(
                    path, f"low bound {_show(raw[0])} is greater than high bound {_show(raw[1])}"
                )
            return (low, high)
        if op in ("in", "not_in"):
            if not isinstance(raw, list) or not raw:
                self.error(path, f"expected a non-empty list of values, got {_show(raw)}")
                return None
            if len(raw) > MAX_LIST_ITEMS:
                self.error(path, f"expected at most {MAX_LIST_ITEMS} values, got {len(raw)}")
                return None
            return tuple(
                self.scalar(rule_field, item, f"{path}[{index}]") for index, item in enumerate(raw)
            )
        return self.scalar(rule_field, raw, path)

    def scalar(self, rule_field: RuleField, raw: object, path: str) -> object:
        kind = rule_field.type
        if kind in (TEXT, CHOICE):
            if not isinstance(raw, str):
                self.error(path, f"expected a text value, got {_show(raw)}")
                return None
            if len(raw) > MAX_TEXT_LENGTH:
                self.error(path, f"expected at most {MAX_TEXT_LENGTH} characters")
                return None
            choices = rule_field.allowed_choices() if kind == CHOICE else ()
            if choices and raw not in choices:
                self.error(
                    path, f"unknown choice {_show(raw)}; expected one of {', '.join(choices)}"
                )
                return None
            return raw
        if kind == INTEGER:
            number = decimal_from_number(raw)
            if number is None or number != number.to_integral_value():
                self.error(path, f"expected a whole number, got {_show(raw)}")
                return None
            if abs(number) > MAX_NUMBER:
                self.error(path, f"expected a number from -10^15 to 10^15, got {_show(raw)}")
                return None
            return int(number)
        if kind in (NUMBER, MONEY):
            number = decimal_from_number(raw)
            if number is None:
                self.error(path, f"expected a number, got {_show(raw)}")
                return None
            if abs(number) > MAX_NUMBER:
                self.error(path, f"expected a number from -10^15 to 10^15, got {_show(raw)}")
                return None
            exponent = number.normalize().as_tuple().exponent
            if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
                self.error(
                    path,
                    f"expected at most {MAX_DECIMAL_PLACES} decimal places, got {_show(raw)}",
                )
                return None
            return number
        if kind == DATE:
            parsed = parse_iso_date(raw)
            if parsed is None:
                self.error(path, f'expected a date as "YYYY-MM-DD", got {_show(raw)}')
            return parsed
        if kind == BOOLEAN:
            if not isinstance(raw, bool):
                self.error(path, f"expected true or false, got {_show(raw)}")
                return None
            return raw
        raise AssertionError(f"unhandled type {kind}")  # pragma: no cover

    def days(self, raw: object, path: str) -> int | None:
        number = decimal_from_number(raw)
        if number is None or number != number.to_integral_value() or not 0 <= number <= MAX_DAYS:
            self.error(
                path, f"expected a whole number of days from 0 to {MAX_DAYS}, got {_show(raw)}"
            )
            return None
        return int(number)


def _count_nodes(rule: object, limit: int) -> int:
    """Number of rule node positions, counting stops just past ``limit`` (and below the
    depth limit), so a huge or deeply nested input costs bounded work."""
    count = 0
    stack: list[tuple[object, int]] = [(rule, 1)]
    while stack and count <= limit:
        raw, depth = stack.pop()
        count += 1
        if not isinstance(raw, dict) or depth > MAX_DEPTH:
            continue
        for kind in ("all", "any"):
            items = raw.get(kind)
            if isinstance(items, list):
                stack.extend((item, depth + 1) for item in items[: limit + 1])
        if "not" in raw:
            stack.append((raw["not"], depth + 1))
    return count


def parse_rule(rule: object, *, attributes: Mapping[str, AttributeSpec] | None = None) -> Node:
    """Validate ``rule`` and return its typed tree; raise RuleValidationError listing every
    problem, each with the path of the node at fault."""
    if _count_nodes(rule, MAX_NODES) > MAX_NODES:
        raise RuleValidationError(
            [RuleError("", f"rule is too large (more than {MAX_NODES} nodes)")]
        )
    parser = _Parser(attributes)
    node = parser.node(rule, "", 1)
    if parser.errors or node is None:
        raise RuleValidationError(parser.errors or [RuleError("", "invalid rule")])
    return node


def validate_rule(rule: object, *, attributes: Mapping[str, AttributeSpec] | None = None) -> None:
    """Raise RuleValidationError (with every error found) unless ``rule`` is valid against
    the built-in fields and the declared custom ``attributes``."""
    parse_rule(rule, attributes=attributes)


def field_type(name: str, attributes: Mapping[str, AttributeSpec] | None = None) -> str | None:
    """The type of a rule field (registered, or ``traits.KEY`` declared in ``attributes``);
    None if unknown."""
    rule_field = registry.get(name, attributes)
    return rule_field.type if rule_field is not None and rule_field.type != UNKNOWN else None


def rank_field(
    rank_by: str, attributes: Mapping[str, AttributeSpec] | None = None
) -> RuleField | None:
    """The field a segment may be ranked by (numeric, money or date), else None."""
    rule_field = registry.get(rank_by, attributes)
    return rule_field if rule_field is not None and rule_field.can_rank else None


def rank_field_type(
    rank_by: str, attributes: Mapping[str, AttributeSpec] | None = None
) -> str | None:
    """The type of a valid rank_by field (numeric, money or date), else None."""
    rule_field = rank_field(rank_by, attributes)
    return rule_field.type if rule_field is not None else None


def validate_rank(
    rank_by: str | None,
    rank_limit: object,
    attributes: Mapping[str, AttributeSpec] | None = None,
) -> None:
    """Check a segment's ranking ("top ``rank_limit`` by ``rank_by``"). Both empty means no
    ranking; otherwise both are required."""
    errors = []
    has_rank_by = rank_by not in (None, "")
    if has_rank_by and (
        not isinstance(rank_by, str) or rank_field_type(rank_by, attributes) is None
    ):
        errors.append(
            RuleError(
                "rank_by",
                f"cannot rank by {_show(rank_by)}; expected a numeric, money or date field",
            )
        )
    if rank_limit is None:
        if has_rank_by:
            errors.append(RuleError("rank_limit", "required when rank_by is set"))
    elif isinstance(rank_limit, bool) or not isinstance(rank_limit, int):
        errors.append(RuleError("rank_limit", f"expected a whole number, got {_show(rank_limit)}"))
    elif not 1 <= rank_limit <= MAX_RANK_LIMIT:
        errors.append(RuleError("rank_limit", f"expected a number from 1 to {MAX_RANK_LIMIT}"))
    elif not has_rank_by:
        errors.append(RuleError("rank_by", "required when rank_limit is set"))
    if errors:
        raise RuleValidationError(errors)

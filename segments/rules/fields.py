"""The vocabulary of the rule language (DESIGN 3.2-3.4): fields, their types, the operators
each type allows, and how a raw value (a column, a JSON trait) becomes a typed rule value.

The value coercions here are shared by the in-memory evaluator and mirrored, predicate for
predicate, by the SQL the compiler emits for traits, so both agree on what counts as null.
"""

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from customers.models import BusinessModel, Industry, LifecycleStage, Plan, Region

TEXT = "text"
CHOICE = "choice"
INTEGER = "integer"
NUMBER = "number"
MONEY = "money"
DATE = "date"
BOOLEAN = "boolean"
TYPES = (TEXT, CHOICE, INTEGER, NUMBER, MONEY, DATE, BOOLEAN)
NUMERIC_TYPES = (INTEGER, NUMBER, MONEY)

TRAIT_PREFIX = "traits."

FIELD_TYPES: dict[str, str] = {
    "name": TEXT,
    "domain": TEXT,
    "country": TEXT,
    "industry": CHOICE,
    "region": CHOICE,
    "business_model": CHOICE,
    "plan": CHOICE,
    "lifecycle_stage": CHOICE,
    "employees": INTEGER,
    "health_score": INTEGER,
    "active_users": INTEGER,
    "licensed_seats": INTEGER,
    "open_tickets": INTEGER,
    "cost_to_serve": MONEY,
    "acquisition_cost": MONEY,
    "arr": MONEY,
    "mrr": MONEY,
    "renewal_date": DATE,
    "customer_since": DATE,
    "churned_on": DATE,
    "last_seen_at": DATE,
    "has_champion": BOOLEAN,
    "referenceable": BOOLEAN,
    "csm": TEXT,
    "seat_utilization": NUMBER,
}

# Read from the model enums so adding a plan (or region...) there extends the rule language.
CHOICES: dict[str, tuple[str, ...]] = {
    "industry": tuple(Industry.values),
    "region": tuple(Region.values),
    "business_model": tuple(BusinessModel.values),
    "plan": tuple(Plan.values),
    "lifecycle_stage": tuple(LifecycleStage.values),
}

NULL_OPERATORS = ("is_null", "is_not_null")
RELATIVE_DATE_OPERATORS = (
    "within_next_days",
    "within_last_days",
    "more_than_days_ago",
    "more_than_days_ahead",
)
_NUMERIC_OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in")

OPERATORS_BY_TYPE: dict[str, tuple[str, ...]] = {
    TEXT: (*NULL_OPERATORS, "eq", "ne", "in", "not_in", "contains", "starts_with"),
    CHOICE: (*NULL_OPERATORS, "eq", "ne", "in", "not_in"),
    INTEGER: (*NULL_OPERATORS, *_NUMERIC_OPERATORS),
    NUMBER: (*NULL_OPERATORS, *_NUMERIC_OPERATORS),
    MONEY: (*NULL_OPERATORS, *_NUMERIC_OPERATORS),
    BOOLEAN: (*NULL_OPERATORS, "eq"),
    DATE: (
        *NULL_OPERATORS,
        "eq",
        "before",
        "after",
        "on_or_before",
        "on_or_after",
        "between",
        *RELATIVE_DATE_OPERATORS,
    ),
}
ALL_OPERATORS: frozenset[str] = frozenset(op for ops in OPERATORS_BY_TYPE.values() for op in ops)

# Built-in fields usable as a segment's rank_by ("top 100 by ARR").
RANKABLE_FIELDS: tuple[str, ...] = tuple(
    name for name, kind in FIELD_TYPES.items() if kind in (*NUMERIC_TYPES, DATE)
)
RANKABLE_TYPES = (*NUMERIC_TYPES, DATE)

# Bounds on rule values: they keep every comparison exact on PostgreSQL, within the range
# SQLite compares exactly (integers and 15 significant digits), and away from overflows.
MAX_NUMBER = 10**15
MAX_DECIMAL_PLACES = 6
MAX_DAYS = 36500
MAX_TEXT_LENGTH = 1000
MAX_LIST_ITEMS = 1000
# Largest integer trait value: 18 digits always fits a PostgreSQL bigint / SQLite integer.
MAX_TRAIT_INTEGER = 10**18 - 1

# Anchored with \A and \Z (not ^ and $): the same regular expressions run in Python, in
# PostgreSQL (ARE) and in SQLite (Django's REGEXP, i.e. Python re.search), and `$` would
# accept a trailing newline in Python but not in PostgreSQL.
INTEGER_TEXT_RE = r"\A-?[0-9]{1,18}\Z"
DECIMAL_TEXT_RE = r"\A-?[0-9]+(\.[0-9]+)?\Z"
# A valid Gregorian calendar date YYYY-MM-DD (year 0001-9999), so a matching string always
# casts to a date in PostgreSQL without an error.
ISO_DATE_RE = (
    r"\A(?:(?!0000)[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)-02-29)\Z"
)
_DECIMAL_TEXT = re.compile(DECIMAL_TEXT_RE)
_ISO_DATE = re.compile(ISO_DATE_RE)
TRAIT_KEY_RE = re.compile(r"\A[A-Za-z0-9_-]{1,100}\Z")


@dataclass(frozen=True)
class AttributeSpec:
    """A declared custom attribute (customers.models.AttributeDefinition), as rules see it."""

    key: str
    type: str
    choices: tuple[str, ...] = ()


def attribute_specs_from_definitions(definitions: Iterable) -> dict[str, AttributeSpec]:
    """Specs keyed by attribute key from objects with ``.key``, ``.type`` and ``.choices``."""
    specs = {}
    for definition in definitions:
        choices = tuple(str(choice) for choice in (definition.choices or ()))
        specs[definition.key] = AttributeSpec(
            key=definition.key, type=definition.type, choices=choices
        )
    return specs


def trait_key(name: str) -> str | None:
    """``"traits.tier"`` → ``"tier"``; None for a built-in field name."""
    if name.startswith(TRAIT_PREFIX):
        return name[len(TRAIT_PREFIX) :]
    return None


def field_type(name: str, attributes: Mapping[str, AttributeSpec] | None = None) -> str | None:
    """The type of a rule field (built-in or declared ``traits.KEY``); None if unknown."""
    key = trait_key(name)
    if key is None:
        return FIELD_TYPES.get(name)
    spec = (attributes or {}).get(key)
    if spec is None or spec.type not in TYPES or not TRAIT_KEY_RE.match(key):
        return None
    return spec.type


def field_choices(
    name: str, attributes: Mapping[str, AttributeSpec] | None = None
) -> tuple[str, ...]:
    """Allowed values of a choice field; empty when any text is allowed."""
    key = trait_key(name)
    if key is None:
        return CHOICES.get(name, ())
    spec = (attributes or {}).get(key)
    return spec.choices if spec is not None else ()


def parse_iso_date(value: object) -> date | None:
    """A strict ``YYYY-MM-DD`` string → date; anything else → None."""
    if isinstance(value, str) and _ISO_DATE.match(value):
        return date.fromisoformat(value)
    return None


def decimal_from_number(value: object) -> Decimal | None:
    """An int, a finite float or a finite Decimal → Decimal (floats by their shortest
    repr, as JSON writes them); anything else (booleans included) → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


def coerce_value(kind: str, raw: object) -> object:
    """The typed value of ``raw`` for a field of type ``kind``, or None when ``raw`` is null
    or does not parse for that type (a malformed trait is treated as null).

    text/choice: a string. integer: an int (not a bool, at most 18 digits). number/money: a
    number or a decimal string like ``"12.50"`` → Decimal. date: a date or a strict
    ``YYYY-MM-DD`` string. boolean: a bool. The compiler's SQL for traits applies the same
    predicates (see compiler.TraitValue).
    """
    if raw is None:
        return None
    if kind in (TEXT, CHOICE):
        return raw if isinstance(raw, str) else None
    if kind == INTEGER:
        if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) <= MAX_TRAIT_INTEGER:
            return raw
        return None
    if kind in (NUMBER, MONEY):
        if isinstance(raw, str):
            if not _DECIMAL_TEXT.match(raw):
                return None
            try:
                return Decimal(raw)
            except InvalidOperation:  # pragma: no cover - the regular expression excludes it
                return None
        return decimal_from_number(raw)
    if kind == DATE:
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        return parse_iso_date(raw)
    if kind == BOOLEAN:
        return raw if isinstance(raw, bool) else None
    return None

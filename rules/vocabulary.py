"""The vocabulary of the rule language: value types, the operators each type allows (with
the one table of how each operator reads), the bounds on rule values, and how a raw value (a
column, a JSON trait) becomes a typed rule value.

Which fields exist is not defined here: apps register them (see ``registry``).

The value coercions here are shared by the in-memory evaluator and mirrored, predicate for
predicate, by the SQL the compiler emits for traits, so both agree on what counts as null.
"""

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

TEXT = "text"
CHOICE = "choice"
INTEGER = "integer"
NUMBER = "number"
MONEY = "money"
DATE = "date"
BOOLEAN = "boolean"
# A set of text values (the product codes an account has): never null, ``is_null`` means
# the set is empty.
SET = "set"
TYPES = (TEXT, CHOICE, INTEGER, NUMBER, MONEY, DATE, BOOLEAN, SET)
NUMERIC_TYPES = (INTEGER, NUMBER, MONEY)
# Types a segment can be ranked by ("top 100 by ARR").
RANKABLE_TYPES = (*NUMERIC_TYPES, DATE)

# The rule language's namespace of declared custom attributes: ``traits.KEY``.
TRAIT_PREFIX = "traits."

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
    SET: ("is_null", "contains", "not_contains", "contains_any", "contains_all"),
}
# Types whose values (or list items) may be restricted to a field's choices.
CHOICE_TYPES = (CHOICE, SET)
ALL_OPERATORS: frozenset[str] = frozenset(op for ops in OPERATORS_BY_TYPE.values() for op in ops)

# What an operator's value is: nothing, one value, a list, a [low, high] pair or N days.
TAKES_NOTHING = "nothing"
TAKES_VALUE = "value"
TAKES_LIST = "list"
TAKES_RANGE = "range"
TAKES_DAYS = "days"


@dataclass(frozen=True)
class Operator:
    """How an operator reads, for people: ``field label value suffix`` (``renewal_date
    within the next 90 days``); a range reads ``field between low and high``. The one
    table of operator labels: rule text, the segment pages and the admin's editor (which
    receives it as JSON) all read it."""

    name: str
    label: str
    takes: str = TAKES_VALUE
    suffix: str = ""

    @property
    def menu_label(self) -> str:
        """The label in a menu of operators: ``within the next N days``."""
        if self.takes == TAKES_DAYS:
            return f"{self.label} N {self.suffix}"
        return self.label

    def as_json(self) -> dict[str, str]:
        return {
            "label": self.label,
            "menu_label": self.menu_label,
            "takes": self.takes,
            "suffix": self.suffix,
        }


OPERATORS: dict[str, Operator] = {
    operator.name: operator
    for operator in (
        Operator("is_null", "is empty", TAKES_NOTHING),
        Operator("is_not_null", "is set", TAKES_NOTHING),
        Operator("eq", "="),
        Operator("ne", "≠"),
        Operator("gt", ">"),
        Operator("gte", "≥"),
        Operator("lt", "<"),
        Operator("lte", "≤"),
        Operator("in", "in", TAKES_LIST),
        Operator("not_in", "not in", TAKES_LIST),
        Operator("contains", "contains"),
        Operator("not_contains", "does not contain"),
        Operator("contains_any", "contains any of", TAKES_LIST),
        Operator("contains_all", "contains all of", TAKES_LIST),
        Operator("starts_with", "starts with"),
        Operator("between", "between", TAKES_RANGE),
        Operator("before", "before"),
        Operator("after", "after"),
        Operator("on_or_before", "on or before"),
        Operator("on_or_after", "on or after"),
        Operator("within_next_days", "within the next", TAKES_DAYS, "days"),
        Operator("within_last_days", "within the last", TAKES_DAYS, "days"),
        Operator("more_than_days_ago", "more than", TAKES_DAYS, "days ago"),
        Operator("more_than_days_ahead", "more than", TAKES_DAYS, "days ahead"),
    )
}

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
    ``YYYY-MM-DD`` string. boolean: a bool. set: a frozenset of the strings of a list, tuple
    or set (never None: no value is the empty set). The compiler's SQL for traits applies
    the same predicates (see compiler.TraitValue).
    """
    if kind == SET:
        if isinstance(raw, list | tuple | set | frozenset):
            return frozenset(item for item in raw if isinstance(item, str))
        return frozenset()
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

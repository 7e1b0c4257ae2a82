"""How a value of an account or contract field is validated and coerced: one definition,
used by the services (``traits_validate``, ``PicklistValues``), the bulk upsert
(``POST /api/accounts/bulk/``) and the CSV import built on it.

A plain field's value is checked by the model field's own rules (what ``full_clean``
runs in ``account_create`` / ``account_update``), after the JSON type checks DRF's fields
make; a custom attribute's value by its ``AttributeDefinition``; a picklist field's value
(industry, region, business_model, plan, lifecycle_stage) by its picklist
(``PicklistValues``).
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from django.db import models

from cs_platform import reference

from .models import AttributeDefinition, Picklist, PicklistField, PicklistValue
from .selectors import PICKLIST_VALUES_KEY


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere, keys included (PostgreSQL
    refuses those). Walks with an explicit stack: any depth is safe."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


# --- custom attributes (Account.traits) -------------------------------------------------------


def attribute_value_problem(definition: AttributeDefinition, value: Any) -> str | None:
    """Why ``value`` does not fit the declared type, or None when it does."""
    kind = definition.type
    if kind in ("text", "choice"):
        if not isinstance(value, str):
            return f"expected text, got {value!r}"
        if kind == "choice" and definition.choices and value not in definition.choices:
            return f"unknown choice {value!r}; expected one of {definition.choices}"
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer, got {value!r}"
    elif kind in ("number", "money"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return f"expected a number, got {value!r}"
        try:
            Decimal(str(value))
        except ArithmeticError:
            return f"expected a number, got {value!r}"
    elif kind == "boolean":
        if not isinstance(value, bool):
            return f"expected true or false, got {value!r}"
    elif kind == "date":
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            return f"expected an ISO date, got {value!r}"
    return None


def traits_problems(traits: Any, definitions: Mapping[str, AttributeDefinition]) -> list[str]:
    """Why ``traits`` does not fit the declared custom attributes (empty when it does):
    ``definitions`` maps keys to their definitions (at least the keys of ``traits``)."""
    if traits is None:
        return []
    if not isinstance(traits, dict):
        return ["Expected an object of custom attributes."]
    problems = []
    for key, value in traits.items():
        definition = definitions.get(key)
        if definition is None:
            problems.append(f"{key}: no custom attribute with this key is declared.")
        elif value is not None and (problem := attribute_value_problem(definition, value)):
            problems.append(f"{key}: {problem}")
    return problems


# --- model fields ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FieldRule:
    """What the fast path of ``field_value_clean`` checks for one model field; anything
    it is unsure of goes to the model field's own ``clean`` (which also words the
    errors)."""

    kind: str
    max_length: int | None
    choices: frozenset[str] | None
    blank: bool
    low: int | None
    high: int | None


# The validators the fast path checks itself (or that a type check already covers); a
# field with any other validator always goes through ``clean``.
_FAST_VALIDATORS = (
    MinValueValidator,
    MaxValueValidator,
    MaxLengthValidator,
    ProhibitNullCharactersValidator,
)


def _field_rule(model_field: models.Field) -> _FieldRule:
    lows = [v.limit_value for v in model_field.validators if isinstance(v, MinValueValidator)]
    highs = [v.limit_value for v in model_field.validators if isinstance(v, MaxValueValidator)]
    if not all(isinstance(v, _FAST_VALIDATORS) for v in model_field.validators):
        kind = "other"
    elif isinstance(model_field, models.CharField):
        kind = "text"
    elif isinstance(model_field, models.IntegerField):
        kind = "integer"
    elif type(model_field) is models.DateField:  # not DateTimeField, its subclass
        kind = "date"
    else:
        kind = "other"
    return _FieldRule(
        kind=kind,
        max_length=getattr(model_field, "max_length", None),
        choices=frozenset(str(c) for c, _ in model_field.flatchoices)
        if model_field.choices
        else None,
        blank=model_field.blank,
        low=max(lows) if lows else None,
        high=min(highs) if highs else None,
    )


# By the field's id(): a model field's own __hash__ is Python code, and an import looks a
# rule up for every value (a 100,000-row file: ~800,000 times). The field is kept beside
# its rule, so the id is never reused for another object.
_RULES: dict[int, tuple[models.Field, _FieldRule]] = {}


def _rule(model_field: models.Field) -> _FieldRule:
    entry = _RULES.get(id(model_field))
    if entry is None:
        entry = _RULES[id(model_field)] = (model_field, _field_rule(model_field))
    return entry[1]


def _fast_clean(rule: _FieldRule, value: Any) -> tuple[bool, Any]:
    """``(True, value)`` when the value certainly passes the field's rules."""
    if rule.kind == "text" and type(value) is str:
        if (
            (value or rule.blank)
            and (rule.max_length is None or len(value) <= rule.max_length)
            and (rule.choices is None or value in rule.choices or (not value and rule.blank))
        ):
            return True, value
    elif rule.kind == "integer" and type(value) is int:
        if (rule.low is None or value >= rule.low) and (rule.high is None or value <= rule.high):
            return True, value
    elif rule.kind == "date" and type(value) is str and len(value) == 10 and value[4] == "-":
        try:
            return True, dt.date.fromisoformat(value)
        except ValueError:
            pass
    return False, None


def field_value_clean(model_field: models.Field, value: Any) -> Any:
    """One value checked by the model field's own rules, after the JSON type checks DRF's
    fields make (no booleans for numbers, no fractions for integers, text for text)."""
    rule = _rule(model_field)
    # What an import sends most (a 100,000-row file: ~800,000 values): text with nothing to
    # strip, an integer, an ISO date. The checks below would leave them as they are.
    kind = type(value)
    if (
        (
            kind is str
            and rule.kind == "text"
            and value
            and not value[0].isspace()
            and not value[-1].isspace()
            and "\x00" not in value
        )
        or (kind is int and rule.kind == "integer")
        or (kind is str and rule.kind == "date")
    ):
        certain, cleaned = _fast_clean(rule, value)
        if certain:
            return cleaned
    if value is None:
        return model_field.clean(None, None)
    if isinstance(model_field, models.BooleanField):
        if not isinstance(value, bool):
            raise ValidationError("Must be a valid boolean.")
        return value
    if isinstance(value, bool):
        raise ValidationError("Expected a value of this field's type, got a boolean.")
    if isinstance(model_field, models.CharField):
        if not isinstance(value, str | int | float | Decimal):
            raise ValidationError("Not a valid string.")
        value = str(value).strip()
        if "\x00" in value:
            raise ValidationError("Null characters are not allowed.")
        if value == "" and model_field.null:
            return None
    elif isinstance(model_field, models.IntegerField):
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError("A valid integer is required.")
        if isinstance(value, str):
            value = value.strip()
            if not (value.lstrip("-").isascii() and value.lstrip("-").isdigit()):
                raise ValidationError("A valid integer is required.")
        elif not isinstance(value, int | float):
            raise ValidationError("A valid integer is required.")
        value = int(value)
    elif isinstance(model_field, models.DecimalField):
        if not isinstance(value, str | int | float | Decimal):
            raise ValidationError("A valid number is required.")
        try:
            value = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError("A valid number is required.") from None
    elif isinstance(model_field, models.DateField) and not isinstance(value, str | dt.date):
        raise ValidationError("Date has wrong format. Use YYYY-MM-DD.")
    certain, cleaned = _fast_clean(rule, value)
    if certain:
        return cleaned
    return model_field.clean(value, None)


# --- picklist fields (DESIGN 10) -------------------------------------------------------------

PICKLIST_FIELDS: tuple[str, ...] = tuple(PicklistField.values)


class PicklistValues:
    """What the picklist fields accept, read once per write (one query for every value of
    the five picklists, a few hundred rows), so a 100,000-row import checks its values in
    memory.

    ``clean(field, value)`` gives the value to store: the existing value in its stored
    casing (``technology`` → ``Technology``); an unknown value of a picklist that accepts
    new values as sent (remembered, and added by ``add_new_values``); else a
    ValidationError naming the field and listing the allowed values.
    """

    def __init__(self) -> None:
        self.accepts: dict[str, bool] = dict(
            Picklist.objects.values_list("field", "accept_new_values")
        )
        self.known: dict[str, dict[str, str]] = {field: {} for field in PICKLIST_FIELDS}
        self.allowed: dict[str, list[str]] = {field: [] for field in PICKLIST_FIELDS}
        rows = PicklistValue.objects.order_by("order", "value").values_list(
            "picklist__field", "value", "is_active"
        )
        for field, value, is_active in rows:
            self.known[field][value.casefold()] = value
            if is_active:
                self.allowed[field].append(value)
        self.new: dict[str, dict[str, str]] = {field: {} for field in PICKLIST_FIELDS}

    def clean(self, field: str, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        key = value.casefold()
        stored = self.known[field].get(key) or self.new[field].get(key)
        if stored is not None:
            return stored
        if self.accepts.get(field, False):
            self.new[field][key] = value
            return value
        allowed = ", ".join(self.allowed[field]) or "(none)"
        raise ValidationError(
            f"{value!r} is not a value of the {field} picklist; allowed values: {allowed}.",
            code="picklist_value",
        )

    def add_new_values(self) -> int:
        """Add the unknown values ``clean`` accepted (marked for review); returns how many.
        Call it in the transaction that writes the accounts."""
        added = 0
        for field, values in self.new.items():
            if not values:
                continue
            picklist = Picklist.objects.get(field=field)
            start = len(self.known[field])
            rows = [
                PicklistValue(
                    picklist=picklist,
                    value=value,
                    label=value,
                    order=start + index,
                    needs_review=True,
                )
                for index, value in enumerate(sorted(values.values(), key=str.casefold))
            ]
            # A concurrent writer may have added the same value (in any casing): the
            # case-insensitive unique constraint keeps one.
            PicklistValue.objects.bulk_create(rows, ignore_conflicts=True)
            reference.forget(PICKLIST_VALUES_KEY)
            added += len(rows)
            self.known[field].update(values)
            values.clear()
        return added

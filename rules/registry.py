"""The field registry: which fields rules can name, registered by the apps that own them.

As Django's admin lets each app register its models, each app registers its rule fields
in its ``AppConfig.ready()``; the engine never imports an app. A field (``RuleField``) has
a name, a type (which gives its operators), a label, its choices, whether it can rank a
segment, and its ``source`` (see ``sources``): how it compiles to SQL and how its value is
read for explain. A **family** (``FieldFamily``) answers for a whole namespace of names
resolved when a rule is checked: ``traits.KEY`` from the declared custom attributes, and
later ``usage.KEY.sum_30d`` or ``health.MEASURE`` from their apps' tables.

A **subject** is what rules select: ``account`` (registered by ``customers``) gives the
queryset a compiled rule filters when the caller passes none.
"""

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .sources import JsonKey, Source
from .vocabulary import (
    CHOICE_TYPES,
    OPERATORS,
    OPERATORS_BY_TYPE,
    RANKABLE_TYPES,
    SET,
    TRAIT_PREFIX,
    TYPES,
)

DEFAULT_SUBJECT = "account"
# Internal pseudo-type of a trait whose declared type is not known to the evaluator (see
# evaluator.InferredAttributes): any operator parses, and every comparison is false.
UNKNOWN = "_unknown"
# A trait key that is safe in a JSON path on both databases.
TRAIT_KEY = re.compile(r"\A[A-Za-z0-9_-]{1,100}\Z")

Choices = tuple[str, ...] | Callable[[], Iterable[str]]


@dataclass(frozen=True)
class RuleField:
    """One field of the rule language.

    ``choices``: for a choice (or set) field, the allowed values, or a callable returning them that
    is called each time a rule is checked (values kept in a database table). ``rankable``:
    None means "if the type can rank" (numbers, money, dates). ``app``: who registered it.
    """

    name: str
    type: str
    source: Source
    label: str = ""
    choices: Choices = ()
    rankable: bool | None = None
    subject: str = DEFAULT_SUBJECT
    app: str = ""

    def allowed_choices(self) -> tuple[str, ...]:
        """The values a choice field accepts now; empty when any text is allowed."""
        choices = self.choices() if callable(self.choices) else self.choices
        return tuple(str(choice) for choice in choices)

    @property
    def can_rank(self) -> bool:
        return self.type in RANKABLE_TYPES if self.rankable is None else self.rankable


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


class FieldFamily(Protocol):
    """A namespace of fields (``prefix`` + key) resolved when a rule is checked.

    ``attributes`` is the declared custom attributes the caller passed to the engine
    (families that read their own tables ignore it). ``on_demand``: the family reads its
    own tables to list or read its fields (a query each), so ``account_rule_values`` reads
    them only for the names a rule uses, and pickers list them only when asked to
    (``all_fields(on_demand=True)``); a family without the attribute is not on demand.
    """

    prefix: str
    unknown_message: str

    def resolve(self, key: str, attributes: Mapping[str, AttributeSpec]) -> RuleField | None:
        """The field ``prefix + key``, or None if there is no such field."""

    def fields(self, attributes: Mapping[str, AttributeSpec]) -> Iterable[RuleField]:
        """Every field of the family, for pickers and for ``account_rule_values``."""


@dataclass(frozen=True)
class AttributeFamily:
    """``traits.KEY``: the declared custom attributes, values in a JSON object column."""

    column: str
    prefix: str = TRAIT_PREFIX
    unknown_message: str = "unknown custom attribute"
    app: str = ""
    on_demand: bool = False

    def _field(self, spec: AttributeSpec, kind: str) -> RuleField:
        return RuleField(
            name=self.prefix + spec.key,
            type=kind,
            source=JsonKey(self.column, spec.key),
            label=spec.key,
            choices=spec.choices,
            app=self.app,
        )

    def resolve(self, key: str, attributes: Mapping[str, AttributeSpec]) -> RuleField | None:
        spec = attributes.get(key)
        if spec is None:
            return None
        if spec.type == UNKNOWN:
            return self._field(spec, UNKNOWN)
        # A set is not a JSON attribute type (only fields with a ComputedSet source).
        if spec.type not in TYPES or spec.type == SET or not TRAIT_KEY.match(key):
            return None
        return self._field(spec, spec.type)

    def fields(self, attributes: Mapping[str, AttributeSpec]) -> Iterable[RuleField]:
        for key in attributes:
            resolved = self.resolve(key, attributes)
            if resolved is not None and resolved.type != UNKNOWN:
                yield resolved


def is_on_demand(family: FieldFamily) -> bool:
    return bool(getattr(family, "on_demand", False))


class FieldRegistry:
    """Fields by name, families by prefix, subjects by name. Registration happens at start-up
    (``AppConfig.ready()``); a name registered twice is an error, so two apps cannot
    silently fight over a field."""

    def __init__(self) -> None:
        self._fields: dict[str, RuleField] = {}
        self._families: dict[str, FieldFamily] = {}
        self._subjects: dict[str, Callable[[], Any]] = {}

    # --- registration ---------------------------------------------------------------------

    def register(self, *fields: RuleField) -> None:
        for rule_field in fields:
            if rule_field.type not in OPERATORS_BY_TYPE:
                raise ValueError(f"rule field {rule_field.name!r}: unknown type {rule_field.type}")
            existing = self._fields.get(rule_field.name)
            if existing is not None and existing != rule_field:
                raise ValueError(f"rule field {rule_field.name!r} is already registered")
            if self._family_of(rule_field.name) is not None:
                raise ValueError(f"rule field {rule_field.name!r} is inside a field family")
            self._fields[rule_field.name] = rule_field

    def register_family(self, family: FieldFamily) -> None:
        existing = self._families.get(family.prefix)
        if existing is not None and existing != family:
            raise ValueError(f"rule field family {family.prefix!r} is already registered")
        self._families[family.prefix] = family

    def register_subject(self, name: str, queryset: Callable[[], Any]) -> None:
        """``queryset()``: every row of the subject, what a rule filters by default."""
        self._subjects[name] = queryset

    def unregister(self, name: str) -> None:
        """Remove a field (tests that register a temporary one)."""
        self._fields.pop(name, None)

    # --- reads ----------------------------------------------------------------------------

    def _family_of(self, name: str) -> FieldFamily | None:
        for prefix, family in self._families.items():
            if name.startswith(prefix):
                return family
        return None

    def family_of(self, name: str) -> FieldFamily | None:
        """The family whose namespace ``name`` is in (resolved or not), else None."""
        return self._family_of(name)

    def get(
        self, name: str, attributes: Mapping[str, AttributeSpec] | None = None
    ) -> RuleField | None:
        """The field called ``name`` (registered, or resolved by its family); None if none."""
        family = self._family_of(name)
        if family is None:
            return self._fields.get(name)
        return family.resolve(name[len(family.prefix) :], attributes or {})

    def fields(self) -> Mapping[str, RuleField]:
        """The registered fields (family fields excluded), in registration order."""
        return self._fields

    def all_fields(
        self, attributes: Mapping[str, AttributeSpec] | None = None, *, on_demand: bool = False
    ) -> list[RuleField]:
        """Registered fields, then each family's fields; the on-demand families' fields
        (see ``FieldFamily``) only with ``on_demand=True``."""
        result = list(self._fields.values())
        for family in self._families.values():
            if on_demand or not is_on_demand(family):
                result.extend(family.fields(attributes or {}))
        return result

    def on_demand_fields(
        self, names: Iterable[str], attributes: Mapping[str, AttributeSpec] | None = None
    ) -> list[RuleField]:
        """The fields of on-demand families among ``names`` (unknown names are skipped)."""
        result = []
        for name in dict.fromkeys(names):
            family = self._family_of(name)
            if family is not None and is_on_demand(family):
                resolved = family.resolve(name[len(family.prefix) :], attributes or {})
                if resolved is not None:
                    result.append(resolved)
        return result

    def subject_queryset(self, subject: str = DEFAULT_SUBJECT) -> Any:
        try:
            return self._subjects[subject]()
        except KeyError:
            raise LookupError(f"no rule subject {subject!r} is registered") from None


registry = FieldRegistry()
register_field = registry.register
register_family = registry.register_family
register_subject = registry.register_subject


def rule_schema(
    attributes: Mapping[str, AttributeSpec] | None = None, *, on_demand: bool = False
) -> dict[str, Any]:
    """What a rule editor offers, as JSON: every field with its type and label, the operators
    of each type, each operator's label, and the choices of choice fields (read now).
    ``on_demand=True`` also lists the on-demand families' fields (read from their tables:
    editors pass it; the default reads no database)."""
    fields = registry.all_fields(attributes, on_demand=on_demand)
    choices = {f.name: list(f.allowed_choices()) for f in fields if f.type in CHOICE_TYPES}
    return {
        "fields": {f.name: {"type": f.type, "label": f.label or f.name} for f in fields},
        "operators": {kind: list(ops) for kind, ops in OPERATORS_BY_TYPE.items()},
        "operator_labels": {name: op.as_json() for name, op in OPERATORS.items()},
        "choices": {name: values for name, values in choices.items() if values},
        "rankable": [f.name for f in fields if f.can_rank],
    }


# --- read-only views of the registry under the names the engine always exported ---------


class _FieldTypes(Mapping):
    """``FIELD_TYPES``: registered field name → type."""

    def __getitem__(self, name: str) -> str:
        return registry.fields()[name].type

    def __iter__(self) -> Iterator[str]:
        return iter(registry.fields())

    def __len__(self) -> int:
        return len(registry.fields())


class _Choices(Mapping):
    """``CHOICES``: choice field name → allowed values (read at each access)."""

    def _names(self) -> list[str]:
        return [name for name, f in registry.fields().items() if f.allowed_choices()]

    def __getitem__(self, name: str) -> tuple[str, ...]:
        rule_field = registry.fields().get(name)
        choices = rule_field.allowed_choices() if rule_field is not None else ()
        if not choices:
            raise KeyError(name)
        return choices

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


class _RankableFields(Sequence):
    """``RANKABLE_FIELDS``: the registered fields a segment can be ranked by."""

    def _names(self) -> tuple[str, ...]:
        return tuple(name for name, f in registry.fields().items() if f.can_rank)

    def __getitem__(self, index):  # type: ignore[override]
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        rule_field = registry.fields().get(name) if isinstance(name, str) else None
        return rule_field is not None and rule_field.can_rank


FIELD_TYPES: Mapping[str, str] = _FieldTypes()
CHOICES: Mapping[str, tuple[str, ...]] = _Choices()
RANKABLE_FIELDS: Sequence[str] = _RankableFields()

"""A scorecard's definition as plain data (``ScorecardSpec``), read from the stored rows, a
stored draft, or an API payload, and validated once (DESIGN 12: weights > 0, ``bad`` ≠
``good``, a numeric field, a valid condition rule, an existing segment, a manual score's
validity). The engine computes from specs, so a draft is scored exactly as it would be once
published.

Errors name the field at fault: ``measures[2].weight``, ``measures[0].rule`` (with the
rule's own path in the message: ``all[1].value: expected a number, got "abc"``).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from rules import AttributeSpec, RuleValidationError, parse_rule, registry, rule_field_names
from rules.vocabulary import INTEGER, MONEY, NUMBER
from segments.engine.targets import attribute_specs
from segments.models import Segment

from .models import (
    DEFAULT_GREEN_FROM,
    DEFAULT_PRIORITY,
    DEFAULT_RED_BELOW,
    DEFAULT_VALID_DAYS,
    MEASURE_KEY_PATTERN,
    SCORE_MAX,
    Measure,
    MeasureSource,
    Scorecard,
)

NUMERIC_TYPES = (INTEGER, NUMBER, MONEY)
# health.score, health.status and health.change_30d: a measure key cannot shadow them.
RESERVED_KEYS = ("score", "status", "change_30d")
# Health fields cannot feed a health measure: a score would depend on itself.
HEALTH_PREFIX = "health."
MAX_MEASURES = 50
MAX_WEIGHT = Decimal("100000")
MAX_BOUND = Decimal("1e14")
MAX_VALID_DAYS = 3650
MAX_PRIORITY = 1_000_000
_KEY = re.compile(MEASURE_KEY_PATTERN)
WEIGHT_PLACES = Decimal("0.01")
BOUND_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class MeasureSpec:
    key: str
    label: str
    weight: Decimal
    source: str
    field: str = ""
    bad: Decimal | None = None
    good: Decimal | None = None
    rule: Any = None
    valid_days: int = DEFAULT_VALID_DAYS
    # The stored measure whose manual entries count (None: a draft's new manual measure).
    measure_id: int | None = None

    @property
    def weight_hundredths(self) -> int:
        return int(self.weight * 100)

    def as_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "weight": str(self.weight),
            "source": self.source,
        }
        if self.source == MeasureSource.FIELD:
            payload.update(field=self.field, bad=str(self.bad), good=str(self.good))
        elif self.source == MeasureSource.CONDITION:
            payload["rule"] = self.rule
        else:
            payload["valid_days"] = self.valid_days
        return payload

    def as_version_payload(self) -> dict[str, Any]:
        """``as_payload`` with the numbers in their stored precision, so two equal
        definitions give equal payloads however they were typed ("2" and "2.00")."""
        payload = self.as_payload()
        payload["weight"] = str(self.weight.quantize(WEIGHT_PLACES))
        if self.source == MeasureSource.FIELD:
            payload["bad"] = str(Decimal(self.bad).quantize(BOUND_PLACES))
            payload["good"] = str(Decimal(self.good).quantize(BOUND_PLACES))
        return payload


@dataclass(frozen=True)
class ScorecardSpec:
    name: str
    segment_id: int | None
    priority: int = DEFAULT_PRIORITY
    red_below: int = DEFAULT_RED_BELOW
    green_from: int = DEFAULT_GREEN_FROM
    measures: tuple[MeasureSpec, ...] = field(default_factory=tuple)
    id: int | None = None
    # The stored version of this definition (``ScorecardVersion``; None: not published).
    version_id: int | None = None

    def status_of(self, score: int | None) -> str | None:
        if score is None:
            return None
        if score < self.red_below:
            return "red"
        if score >= self.green_from:
            return "green"
        return "yellow"

    def as_payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "segment": self.segment_id,
            "priority": self.priority,
            "red_below": self.red_below,
            "green_from": self.green_from,
            "measures": [measure.as_payload() for measure in self.measures],
        }

    def scoring_definition(self) -> dict[str, Any]:
        """What a ``ScorecardVersion`` keeps: the thresholds and the measures with their
        weights (not the name, segment or priority, which decide which accounts it scores,
        not how)."""
        return {
            "red_below": self.red_below,
            "green_from": self.green_from,
            "measures": [measure.as_version_payload() for measure in self.measures],
        }


def spec_from_scorecard(
    scorecard: Scorecard, measures: Iterable[Measure] | None = None
) -> ScorecardSpec:
    """The live definition of a stored scorecard (pass ``measures`` if already loaded)."""
    rows = scorecard.measures.all() if measures is None else measures
    return ScorecardSpec(
        id=scorecard.pk,
        version_id=scorecard.current_version_id,
        name=scorecard.name,
        segment_id=scorecard.segment_id,
        priority=scorecard.priority,
        red_below=scorecard.red_below,
        green_from=scorecard.green_from,
        measures=tuple(
            MeasureSpec(
                key=m.key,
                label=m.label,
                weight=m.weight,
                source=m.source,
                field=m.field,
                bad=m.bad,
                good=m.good,
                rule=m.rule,
                valid_days=m.valid_days,
                measure_id=m.pk,
            )
            for m in rows
        ),
    )


def live_specs() -> list[ScorecardSpec]:
    """Every stored scorecard's live definition, in assignment order (see ``ordered``)."""
    scorecards = Scorecard.objects.prefetch_related("measures")
    return ordered(spec_from_scorecard(s, s.measures.all()) for s in scorecards)


def ordered(specs: Iterable[ScorecardSpec]) -> list[ScorecardSpec]:
    """Assignment order: scorecards with a segment by (priority, id), then the default (no
    segment), which takes every account no other scorecard takes."""
    return sorted(specs, key=lambda s: (s.segment_id is None, s.priority, s.id or 0))


# --- validation ----------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    def raise_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def _integer(errors: _Errors, data: Mapping, name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, f"expected a whole number, got {value!r}")
        return default
    if not low <= value <= high:
        errors.add(name, f"must be between {low} and {high}")
    return value


def _decimal(errors: _Errors, name: str, value: Any, *, limit: Decimal) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        errors.add(name, f"expected a number, got {value!r}")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        errors.add(name, f"expected a number, got {value!r}")
        return None
    if not number.is_finite() or abs(number) >= limit:
        errors.add(name, f"must be a finite number below {limit}")
        return None
    if number != number.quantize(Decimal("0.000001")):
        errors.add(name, "at most 6 decimal places")
        return None
    return number


def _health_fields(names: Iterable[str]) -> list[str]:
    return [name for name in names if name.startswith(HEALTH_PREFIX) or name == "health_score"]


def _measure(
    errors: _Errors,
    index: int,
    raw: Any,
    attributes: Mapping[str, AttributeSpec],
    manual_ids: Mapping[str, int],
) -> MeasureSpec | None:
    at = f"measures[{index}]"
    if not isinstance(raw, Mapping):
        errors.add(at, "expected an object")
        return None
    unknown = set(raw) - {
        "id",
        "key",
        "label",
        "weight",
        "source",
        "field",
        "bad",
        "good",
        "rule",
        "valid_days",
    }
    for name in sorted(unknown):
        errors.add(f"{at}.{name}", "unknown field")
    key = raw.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        errors.add(f"{at}.key", "expected 1-50 characters a-z, 0-9 and _, starting with a letter")
        key = ""
    if key in RESERVED_KEYS:
        errors.add(f"{at}.key", f"{key!r} is reserved (health.{key} is a field of its own)")
    label = raw.get("label") or key
    if not isinstance(label, str) or len(label) > 200:
        errors.add(f"{at}.label", "expected a text of at most 200 characters")
        label = key
    weight = _decimal(errors, f"{at}.weight", raw.get("weight"), limit=MAX_WEIGHT)
    if weight is not None and weight <= 0:
        errors.add(f"{at}.weight", "must be greater than 0")
    elif weight is not None and weight != weight.quantize(Decimal("0.01")):
        errors.add(f"{at}.weight", "at most 2 decimal places")
    source = raw.get("source")
    spec = None
    if source == MeasureSource.FIELD:
        spec = _field_measure(errors, at, raw, attributes)
    elif source == MeasureSource.CONDITION:
        spec = _condition_measure(errors, at, raw, attributes)
    elif source == MeasureSource.MANUAL:
        spec = {
            "valid_days": _integer(errors, raw, "valid_days", DEFAULT_VALID_DAYS, 1, MAX_VALID_DAYS)
        }
        if "valid_days" in errors.by_field:
            errors.by_field[f"{at}.valid_days"] = errors.by_field.pop("valid_days")
        spec["measure_id"] = manual_ids.get(key)
    else:
        errors.add(f"{at}.source", "expected one of field, condition, manual")
    if spec is None or weight is None:
        return None
    return MeasureSpec(key=key, label=label, weight=weight, source=source, **spec)


def _field_measure(
    errors: _Errors, at: str, raw: Mapping, attributes: Mapping[str, AttributeSpec]
) -> dict | None:
    name = raw.get("field")
    rule_field = registry.get(name, attributes) if isinstance(name, str) else None
    if rule_field is None:
        errors.add(f"{at}.field", f"unknown field {name!r}")
    elif rule_field.type not in NUMERIC_TYPES:
        errors.add(f"{at}.field", f"{name} is a {rule_field.type} field; expected a numeric field")
        rule_field = None
    elif _health_fields([name]):
        errors.add(f"{at}.field", "a health field cannot be a measure of a health score")
        rule_field = None
    bad = _decimal(errors, f"{at}.bad", raw.get("bad"), limit=MAX_BOUND)
    good = _decimal(errors, f"{at}.good", raw.get("good"), limit=MAX_BOUND)
    if bad is not None and good is not None and bad == good:
        errors.add(f"{at}.good", "must differ from bad")
        return None
    if rule_field is None or bad is None or good is None:
        return None
    return {"field": name, "bad": bad, "good": good}


def _condition_measure(
    errors: _Errors, at: str, raw: Mapping, attributes: Mapping[str, AttributeSpec]
) -> dict | None:
    rule = raw.get("rule")
    if rule is None:
        errors.add(f"{at}.rule", "a condition measure needs a rule")
        return None
    try:
        parse_rule(rule, attributes=attributes)
    except RuleValidationError as exc:
        for error in exc.errors:
            errors.add(f"{at}.rule", str(error))
        return None
    if used := _health_fields(rule_field_names(rule)):
        errors.add(f"{at}.rule", f"a health field cannot be a measure of a health score: {used[0]}")
        return None
    return {"rule": rule}


def definition_validate(
    data: Any,
    *,
    scorecard: Scorecard | None = None,
    partial: bool = False,
    attributes: Mapping[str, AttributeSpec] | None = None,
) -> ScorecardSpec:
    """Check a scorecard definition (the API's shape) and return it as a spec; raise a
    ValidationError naming every field at fault. With ``partial`` (a PATCH), missing keys
    keep ``scorecard``'s values. Nothing is written."""
    errors = _Errors()
    if not isinstance(data, Mapping):
        raise ValidationError({"non_field_errors": ["expected an object"]})
    base = spec_from_scorecard(scorecard).as_payload() if scorecard is not None else {}
    if partial:
        data = {**base, **data}
    unknown = set(data) - {
        "id",
        "name",
        "segment",
        "priority",
        "red_below",
        "green_from",
        "measures",
    }
    for name in sorted(unknown):
        errors.add(name, "unknown field")
    attributes = attribute_specs() if attributes is None else attributes
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors.add("name", "expected a name of 1-200 characters")
        name = ""
    elif Scorecard.objects.filter(name=name).exclude(pk=getattr(scorecard, "pk", None)).exists():
        errors.add("name", "a scorecard with this name exists")
    segment_id = data.get("segment")
    if segment_id is not None:
        if isinstance(segment_id, bool) or not isinstance(segment_id, int):
            errors.add("segment", f"expected a segment id or null, got {segment_id!r}")
            segment_id = None
        elif (
            segment := Segment.objects.select_related("current_version")
            .filter(pk=segment_id)
            .first()
        ) is None:
            errors.add("segment", f"no segment with id {segment_id} (deleted?)")
            segment_id = None
        elif segment.current_version and _health_fields(
            rule_field_names(segment.current_version.rule)
        ):
            # Membership would depend on the score it assigns: scores could flip forever.
            errors.add("segment", "a segment whose rule uses health fields cannot pick a scorecard")
            segment_id = None
    taken = Scorecard.objects.filter(segment_id=segment_id).exclude(
        pk=getattr(scorecard, "pk", None)
    )
    if "segment" not in errors.by_field and taken.exists():
        which = "the default (no segment)" if segment_id is None else "this segment"
        errors.add("segment", f"another scorecard already scores {which}")
    priority = _integer(errors, data, "priority", DEFAULT_PRIORITY, 0, MAX_PRIORITY)
    red_below = _integer(errors, data, "red_below", DEFAULT_RED_BELOW, 0, SCORE_MAX)
    green_from = _integer(errors, data, "green_from", DEFAULT_GREEN_FROM, 0, SCORE_MAX)
    if red_below > green_from:
        errors.add("green_from", "must be at least red_below")
    raw_measures = data.get("measures", [])
    measures: list[MeasureSpec] = []
    if not isinstance(raw_measures, list) or not raw_measures:
        errors.add("measures", "expected a list of at least one measure")
        raw_measures = []
    elif len(raw_measures) > MAX_MEASURES:
        errors.add("measures", f"at most {MAX_MEASURES} measures")
        raw_measures = []
    manual_ids = _manual_ids(scorecard)
    for index, raw in enumerate(raw_measures):
        spec = _measure(errors, index, raw, attributes, manual_ids)
        if spec is not None:
            measures.append(spec)
    keys = [m.get("key") for m in raw_measures if isinstance(m, Mapping)]
    for index, key in enumerate(keys):
        if key in keys[:index]:
            errors.add(f"measures[{index}].key", f"duplicate key {key!r}")
    errors.raise_any()
    return ScorecardSpec(
        id=getattr(scorecard, "pk", None),
        name=name,
        segment_id=segment_id,
        priority=priority,
        red_below=red_below,
        green_from=green_from,
        measures=tuple(measures),
    )


def _manual_ids(scorecard: Scorecard | None) -> dict[str, int]:
    if scorecard is None:
        return {}
    rows = scorecard.measures.filter(source=MeasureSource.MANUAL).values_list("key", "pk")
    return dict(rows)


def spec_from_draft(scorecard: Scorecard) -> ScorecardSpec | None:
    """The scorecard's draft as a spec (re-validated: a field or segment may have gone
    since it was saved); None without a draft."""
    if scorecard.draft is None:
        return None
    return definition_validate(scorecard.draft, scorecard=scorecard)

"""The scorecard admin's forms: the scorecard (name, segment, order, thresholds) and its
measures inline, each with the inputs of its source (a numeric rule field with ``bad`` and
``good``, a rule, or the days a manual score counts).

Both are checked by the one validator of scorecard definitions,
``health.definitions.definition_validate`` (the API's and the drafts' too): the scorecard
form asks it about the scorecard's own fields, the measures formset about the measures,
and each message is put under the input it names (``measures[2].weight`` → the weight of
the third measure shown). Nothing is written here: the admin saves through the services.
"""

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.forms.models import BaseInlineFormSet, InlineForeignKeyField, construct_instance

from cs_platform.json_forms import BoundedJSONFormField
from rules import rule_schema
from segments.engine.targets import attribute_specs

from ..definitions import (
    HEALTH_PREFIX,
    MAX_PRIORITY,
    NUMERIC_TYPES,
    definition_validate,
)
from ..models import DEFAULT_VALID_DAYS, Measure, MeasureSource, Scorecard

SCORECARD_FIELDS = ("name", "segment", "priority", "red_below", "green_from")
MEASURE_FIELDS = ("key", "label", "weight", "source", "field", "bad", "good", "rule", "valid_days")
# Which inputs each source uses (the page's script shows only these).
SOURCE_INPUTS = {
    MeasureSource.FIELD: ("field", "bad", "good"),
    MeasureSource.CONDITION: ("rule",),
    MeasureSource.MANUAL: ("valid_days",),
}
# A placeholder measure, so that checking the scorecard's own fields needs no real one.
_PLACEHOLDER = {"key": "placeholder", "weight": "1", "source": MeasureSource.MANUAL}


def _is_health_field(name: str) -> bool:
    return name.startswith(HEALTH_PREFIX) or name == "health_score"


def condition_schema() -> dict[str, Any]:
    """The rule editor's schema for conditions: every rule field but the health fields (a
    score cannot depend on itself)."""
    schema = rule_schema(attribute_specs(), on_demand=True)
    schema["fields"] = {n: f for n, f in schema["fields"].items() if not _is_health_field(n)}
    schema["rankable"] = [n for n in schema["rankable"] if not _is_health_field(n)]
    return schema


def numeric_field_choices() -> list[tuple[str, str]]:
    """Every numeric rule field a measure can read (usage windows and custom attributes
    included, health fields left out), by label."""
    fields = condition_schema()["fields"]
    usable = [
        (name, f"{info['label']} ({name})" if info["label"] != name else name)
        for name, info in fields.items()
        if info["type"] in NUMERIC_TYPES
    ]
    return [("", "— pick a field —"), *sorted(usable, key=lambda choice: choice[1].lower())]


class MeasureRuleWidget(forms.Textarea):
    """A condition's rule: the segments' rule editor (static/admin/segments), fed by the one
    schema the change form renders (``health-rule-schema``); the page's script enhances
    each measure's textarea, also in rows added with "Add another"."""

    class Media:
        js = ("admin/segments/rule_editor.js", "admin/health/scorecard.js")
        css = {"all": ("admin/segments/rule_editor.css", "admin/health/scorecard.css")}

    def __init__(self) -> None:
        super().__init__(attrs={"rows": 6, "cols": 80, "data-health-rule": "1"})

    def format_value(self, value: Any) -> str | None:
        # No rule yet: an empty box, which the editor starts as "every account".
        return None if value in (None, "null") else super().format_value(value)


def _messages(error: ValidationError) -> dict[str, list[str]]:
    return {name: [str(m) for m in messages] for name, messages in error.message_dict.items()}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class _ValidatorChecksConstraints(forms.ModelForm):
    """A model form whose instance is checked field by field but not against the model's
    constraints: the definitions' validator checks the same rules with messages that name
    the field (a constraint's own message names only the constraint)."""

    def _post_clean(self) -> None:
        opts = self._meta
        exclude = self._get_validation_exclusions()
        exclude.update(n for n, f in self.fields.items() if isinstance(f, InlineForeignKeyField))
        try:
            self.instance = construct_instance(self, self.instance, opts.fields, opts.exclude)
            self.instance.full_clean(
                exclude=exclude, validate_unique=False, validate_constraints=False
            )
        except ValidationError as error:
            self._update_errors(error)


class ScorecardForm(_ValidatorChecksConstraints):
    """The scorecard's own fields, checked by the definitions' validator (which also checks
    that the name and the segment are not taken)."""

    class Meta:
        model = Scorecard
        fields = SCORECARD_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["priority"].validators.append(MaxValueValidator(MAX_PRIORITY))
        self.fields["priority"].help_text = (
            "Accounts take the first scorecard whose segment they are in, lowest priority "
            "first; the default (no segment) takes every account no other scorecard takes."
        )
        self.fields["segment"].help_text = "Empty: the default scorecard."
        self.fields["red_below"].help_text = "Red below this score."
        self.fields["green_from"].help_text = "Green from this score; yellow in between."

    def payload(self, measures: list[dict[str, Any]]) -> dict[str, Any]:
        """The definition in the API's shape (DESIGN 12), with these measures."""
        data = self.cleaned_data
        return {
            "name": data.get("name"),
            "segment": data["segment"].pk if data.get("segment") else None,
            "priority": data.get("priority"),
            "red_below": data.get("red_below"),
            "green_from": data.get("green_from"),
            "measures": measures,
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if any(name in self.errors for name in SCORECARD_FIELDS):
            return cleaned
        stored = self.instance if self.instance.pk else None
        try:
            definition_validate(self.payload([_PLACEHOLDER]), scorecard=stored)
        except ValidationError as error:
            for name, messages in _messages(error).items():
                if not name.startswith("measures"):
                    self.add_error(name if name in self.fields else None, messages)
        return cleaned


class MeasureForm(_ValidatorChecksConstraints):
    field = forms.ChoiceField(
        label="Field",
        required=False,
        choices=numeric_field_choices,
        help_text="A numeric rule field (usage windows and custom attributes included).",
    )
    rule = BoundedJSONFormField(
        label="Condition",
        required=False,
        widget=MeasureRuleWidget,
        help_text="100 when the account matches the rule, 0 when not.",
    )

    class Meta:
        model = Measure
        fields = MEASURE_FIELDS
        help_texts = {
            "weight": "Greater than 0; measures left out (no value) do not count.",
            "bad": "The value that scores 0.",
            "good": "The value that scores 100 (may be below bad: fewer tickets is better).",
            "valid_days": "A manual score counts this many days after it was entered.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].widget.attrs["data-health-source"] = "1"
        for name in ("bad", "good"):
            self.fields[name].widget.attrs["step"] = "any"
        self.fields["valid_days"].required = False  # only manual measures use it
        self.fields["label"].required = False  # the key when empty

    def clean_label(self) -> str:
        return self.cleaned_data.get("label") or self.cleaned_data.get("key") or ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        source = cleaned.get("source")
        for name in SOURCE_INPUTS.get(source, ()):
            if name not in self.errors and cleaned.get(name) in (None, ""):
                self.add_error(name, f"Required for a {source} measure.")
        return cleaned

    def clean_valid_days(self) -> int:
        value = self.cleaned_data.get("valid_days")
        return DEFAULT_VALID_DAYS if value is None else value

    def measure_payload(self) -> dict[str, Any]:
        """This measure in the API's shape: the inputs of its source only."""
        data = self.cleaned_data
        source = data.get("source")
        payload: dict[str, Any] = {
            "key": data.get("key"),
            "label": data.get("label") or data.get("key"),
            "weight": _text(data.get("weight")),
            "source": source,
        }
        if source == MeasureSource.FIELD:
            payload.update(
                field=data.get("field") or None,
                bad=_text(data.get("bad")),
                good=_text(data.get("good")),
            )
        elif source == MeasureSource.CONDITION:
            payload["rule"] = data.get("rule")
        elif source == MeasureSource.MANUAL:
            payload["valid_days"] = data.get("valid_days")
        return payload


class MeasureFormSet(BaseInlineFormSet):
    """The measures: checked together with the scorecard by the definitions' validator;
    ``payload`` holds the checked list (in the order shown) for the save."""

    def kept_forms(self) -> list[MeasureForm]:
        """The measures to keep: the stored ones not marked for deletion, and the new rows
        that were filled in."""
        return [
            form
            for form in self.forms
            if not (self.can_delete and self._should_delete_form(form))
            and (form.instance.pk is not None or form.has_changed())
        ]

    def clean(self) -> None:
        self.payload: list[dict[str, Any]] = []
        super().clean()
        kept = self.kept_forms()
        if any(form.errors for form in kept):
            return  # the inputs' own errors first
        measures = [form.measure_payload() for form in kept]
        parent = _parent_payload(self.instance)
        stored = self.instance if self.instance.pk else None
        try:
            definition_validate({**parent, "measures": measures}, scorecard=stored)
        except ValidationError as error:
            placed, general = self._errors_place(_messages(error), kept)
            if general:
                raise ValidationError(general) from None
            if placed:
                raise ValidationError("Correct the measures marked below.") from None
        self.payload = measures

    def _errors_place(
        self, errors: Mapping[str, list[str]], kept: list[MeasureForm]
    ) -> tuple[int, list[str]]:
        """Put each measure's messages under its input; return how many were placed and
        the messages about the list as a whole. The scorecard's own fields are reported
        by its form."""
        placed, general = 0, []
        for name, messages in errors.items():
            if not name.startswith("measures"):
                continue
            index, _, input_name = name.removeprefix("measures").partition(".")
            if not index.startswith("["):
                general.extend(messages)
                continue
            form = kept[int(index.strip("[]"))]
            if input_name in form.fields:
                form.add_error(input_name, messages)
            else:
                form.add_error(None, [f"{input_name}: {m}" if input_name else m for m in messages])
            placed += 1
        return placed, general


def _parent_payload(scorecard: Scorecard) -> dict[str, Any]:
    """The scorecard's own fields as its form left them on the instance (the admin builds
    the formset on the form's instance, which the form's cleaning fills in)."""
    return {
        "name": scorecard.name,
        "segment": scorecard.segment_id,
        "priority": scorecard.priority,
        "red_below": scorecard.red_below,
        "green_from": scorecard.green_from,
    }

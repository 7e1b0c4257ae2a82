"""Admin forms: a segment's rule, ranking and note, validated by the segment service (the
one validation), with the rule's path messages shown under the fields."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from cs_platform.json_forms import BoundedJSONFormField
from rules import rule_schema

from .. import selectors, services
from ..models import Segment, SegmentVersion
from .widgets import RuleEditorWidget


def _rank_choices() -> list[tuple[str, str]]:
    """Every field a segment can be ranked by: the registered ones, then the declared
    custom attributes of a rankable type."""
    schema_rankable = rule_schema(selectors.attribute_specs(), on_demand=True)["rankable"]
    return [("", "— no ranking —"), *((name, name) for name in schema_rankable)]


class DefinitionFormMixin(forms.Form):
    """Rule, ranking and note, validated by the service's validator with the error paths
    shown under the fields."""

    rule = BoundedJSONFormField(widget=RuleEditorWidget, initial={"all": []})
    rank_by = forms.ChoiceField(required=False, choices=_rank_choices)
    rank_limit = forms.IntegerField(required=False, min_value=1)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self) -> dict:
        cleaned = super().clean()
        if "rule" in cleaned:
            try:
                services.definition_validate(
                    rule=cleaned["rule"],
                    rank_by=cleaned.get("rank_by") or "",
                    rank_limit=cleaned.get("rank_limit"),
                )
            except ValidationError as exc:
                for name, problems in exc.message_dict.items():
                    self.add_error(name if name in self.fields else None, problems)
        return cleaned


class SegmentAddForm(DefinitionFormMixin, forms.ModelForm):
    publish = forms.BooleanField(
        required=False, initial=False, help_text="Publish version 1 now (then recompute)."
    )

    class Meta:
        model = Segment
        fields = (
            "name",
            "slug",
            "description",
            "kind",
            "owner",
            "is_active",
            "review_every_days",
            "exclusive_group",
            "priority",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = "Leave empty to derive it from the name."


class SegmentChangeForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = (
            "name",
            "slug",
            "description",
            "owner",
            "is_active",
            "review_every_days",
            "last_reviewed_at",
            "exclusive_group",
            "priority",
        )


class VersionForm(DefinitionFormMixin, forms.ModelForm):
    class Meta:
        model = SegmentVersion
        fields = ("segment", "rule", "rank_by", "rank_limit", "note")

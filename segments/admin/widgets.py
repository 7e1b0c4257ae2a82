"""The rule editor widget: a JSON textarea that static/admin/segments/rule_editor.js turns
into a small query builder. Everything the builder offers (fields, their types and labels,
operators and their labels, choices) is rendered next to it as JSON from the rule engine's
registry, so the browser holds no copy of the rule language."""

from typing import Any

from django import forms
from django.utils.html import json_script

from rules import rule_schema

from .. import selectors


class RuleEditorWidget(forms.Textarea):
    """A JSON textarea enhanced by a small query builder (static/admin/segments): the
    editor's schema (fields, operators, choices) is rendered next to it as JSON."""

    class Media:
        js = ("admin/segments/rule_editor.js",)
        css = {"all": ("admin/segments/rule_editor.css",)}

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs={"rows": 12, "cols": 90, **(attrs or {})})

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None) -> str:
        schema_id = f"rule-schema-{name}"
        textarea = super().render(
            name, value, {**(attrs or {}), "data-rule-editor": schema_id}, renderer
        )
        return textarea + json_script(
            rule_schema(selectors.attribute_specs(), on_demand=True), schema_id
        )

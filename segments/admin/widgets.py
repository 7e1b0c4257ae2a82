"""The rule editor widget: a JSON textarea that static/admin/segments/rule_editor.js turns
into the segment builder (the same builder as the app's segment pages). Everything the
builder offers (fields in groups with their types and labels, operators in words, choices)
is rendered next to it as JSON from the rule engine's registry
(``selectors.rule_editor_schema``), so the browser holds no copy of the rule language."""

from typing import Any

from django import forms
from django.utils.html import json_script

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
        return textarea + json_script(selectors.rule_editor_schema(), schema_id)

"""The segment builder on the app's pages: ``{% rule_editor_schema "id" %}`` writes the
builder's schema (``selectors.rule_editor_schema``) as a JSON script tag, and
``{% rank_by_options value %}`` the options of the "rank by" menu (rankable fields, by
label)."""

from django import template
from django.utils.html import format_html, format_html_join, json_script
from django.utils.safestring import SafeString

from segments import selectors

register = template.Library()


@register.simple_tag
def rule_editor_schema(element_id: str) -> SafeString:
    return json_script(selectors.rule_editor_schema(), element_id)


@register.simple_tag
def rank_by_options(value: str) -> SafeString:
    schema = selectors.rule_editor_schema()
    fields = sorted(schema["rankable"], key=lambda name: schema["fields"][name]["label"])
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (name, " selected" if name == value else "", schema["fields"][name]["label"])
            for name in fields
        ),
    )
    return format_html('<option value="">Not ranked</option>{}', options)

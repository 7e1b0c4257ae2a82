"""``{% picklist_label "plan" account.plan %}``: a picklist value's label (the value itself
when it has none or is not in the picklist), "—" for no value. The labels of every picklist
come from the cached list of picklist values (``selectors.picklist_values``), made into a
dict once per template render, so a list of accounts costs no query per row."""

from typing import Any

from django import template

from customers.selectors import picklist_values

from .cs_format import humanize_value

register = template.Library()

_CACHE_KEY = "customers_picklist_labels"


@register.simple_tag(takes_context=True)
def picklist_label(context: template.Context, field: str, value: Any) -> str:
    if value in (None, ""):
        return "—"
    labels = context.render_context.get(_CACHE_KEY)
    if labels is None:
        labels = {(field_name, stored): label for field_name, stored, label, _ in picklist_values()}
        context.render_context[_CACHE_KEY] = labels
    label = labels.get((field, value))
    return label if label and label != value else humanize_value(value)

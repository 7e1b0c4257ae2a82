"""``{% forecast_cell row "commit" as cell %}``: one forecast category's count and ARR of a
forecast totals row (``selectors.renewal_forecast_totals``), and ``labels|get_label:key``."""

from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def forecast_cell(row: dict[str, Any], category: str) -> dict[str, Any]:
    return {
        "n": row.get(f"{category}_n", 0),
        "arr": row.get(f"{category}_arr"),
        "expected": row.get(f"{category}_expected"),
    }


@register.filter
def get_label(labels: dict[str, str], key: str) -> str:
    return labels.get(key, key)

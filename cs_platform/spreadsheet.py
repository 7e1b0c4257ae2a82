"""Cells of the CSV files the product writes (exports, rejected import rows): spreadsheet
apps run a cell that starts with =, +, - or @ as a formula, so such text is quoted."""

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@")


def formula_safe(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula;
    numbers, dates and other values are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value

"""Cells of the CSV files the product writes (exports, rejected import rows): spreadsheet
apps run a cell that starts with =, +, - or @ as a formula (and some also after a leading
tab or carriage return), so such text is quoted with a leading ``'``. Every CSV the
product writes goes through ``csv_writer``, whose rows are escaped cell by cell, header
included."""

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula;
    numbers, dates and other values are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """A row's cells for a CSV file: None as an empty cell, text escaped (``formula_safe``)."""
    return ["" if value is None else formula_safe(value) for value in values]


class _Lines:
    """A file-like target whose ``write`` returns the line: for streamed responses."""

    def write(self, value: str) -> str:
        return value


class CSVWriter:
    """``csv.writer`` whose every row goes through ``safe_row``. With no target file,
    ``writerow`` returns the CSV line (to stream a response)."""

    def __init__(self, target: Any = None) -> None:
        self._writer = csv.writer(_Lines() if target is None else target)

    def writerow(self, values: Iterable[Any]) -> Any:
        return self._writer.writerow(safe_row(values))


def csv_writer(target: Any = None) -> CSVWriter:
    """The writer of every CSV file or response the product produces."""
    return CSVWriter(target)

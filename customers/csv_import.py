"""The CSV import of accounts or contracts (the ``import_csv`` command and the admin
upload): CSV cells become the rows the bulk upsert services take, in chunks of
``MAX_BULK_ROWS``, and their problems are reported by line."""

import contextlib
import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from .bulk_upsert import (
    ACCOUNT_READ_ONLY_FIELDS,
    CONTRACT_CSV_ACCOUNT_COLUMN,
    MAX_BULK_ROWS,
    accounts_bulk_upsert,
    contracts_bulk_upsert,
)
from .csv_import_contracts import (
    READ_ONLY_COLUMNS,
    ContractPlan,
    RowExtras,
    contracts_apply,
    contracts_plan,
    extras_parse,
    users_by_name,
)
from .models import Account, AttributeDefinition, Contract
from .services import ACCOUNT_EDITABLE_FIELDS, CONTRACT_EDITABLE_FIELDS

# The key a row's cells beyond the header's columns are gathered under.
EXTRA_CELLS = "extra cells"


@dataclass
class ImportRowError:
    """One problem in a CSV file: the line (the header is line 1), the row's external_id,
    the field and the message."""

    row: int
    external_id: str | None
    field: str
    message: str


@dataclass
class ImportReport:
    kind: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    contracts: int = 0  # accounts rows whose arr set their contract's ARR
    errors: list[ImportRowError] = field(default_factory=list)


_BOOLEAN_TEXT = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
    "0": False,
}


def _csv_value(model_field: models.Field | None, text: str) -> Any:
    """A CSV cell as the JSON-ish value a bulk row carries; booleans become bools."""
    if isinstance(model_field, models.BooleanField):
        return _BOOLEAN_TEXT.get(text.strip().lower(), text)
    return text


def _trait_csv_value(definition: AttributeDefinition | None, text: str) -> Any:
    """A CSV cell of a ``traits.KEY`` column in the declared type (left as text when it
    does not parse, so validation names the problem)."""
    if definition is None:
        return text
    text = text.strip()
    try:
        if definition.type == "integer":
            return int(text)
        if definition.type in ("number", "money"):
            return str(Decimal(text))
    except (ValueError, InvalidOperation):
        return text
    if definition.type == "boolean":
        return _BOOLEAN_TEXT.get(text.lower(), text)
    return text


def _csv_rows(
    reader: csv.DictReader, model: type[models.Model], definitions: dict[str, Any]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each data row. An empty cell means null for nullable fields
    and "leave as is" (default for new rows) for the others; ``traits.KEY`` columns are
    gathered into ``traits``."""
    for record in reader:
        row: dict[str, Any] = {}
        traits: dict[str, Any] = {}
        for column, text in record.items():
            if column is None:  # more cells than header columns
                row[EXTRA_CELLS] = text
                continue
            column = column.strip()
            text = "" if text is None else text
            if column.startswith("traits."):
                key = column.removeprefix("traits.")
                if text.strip():
                    traits[key] = _trait_csv_value(definitions.get(key), text)
                continue
            try:
                model_field = model._meta.get_field(column)
            except FieldDoesNotExist:
                model_field = None
            if text.strip() == "":
                if model_field is not None and model_field.null:
                    row[column] = None
                elif model_field is None and column not in (
                    "external_id",
                    "name",
                    CONTRACT_CSV_ACCOUNT_COLUMN,
                ):
                    row[column] = text
                continue
            row[column] = _csv_value(model_field, text)
        if traits:
            row["traits"] = traits
        yield reader.line_num, row


def _accounts_extras(
    chunk: list[tuple[int, dict[str, Any]]], report: "ImportReport"
) -> tuple[list[ContractPlan], list[RowExtras]]:
    """Take the ``arr``, ``renewal_date`` and ``csm`` cells off the chunk's rows, parse and
    plan them (``csv_import_contracts``); a row with a problem there is reported by column
    and left out of the chunk, so it is not imported at all."""
    wanted_users = {
        str(row["csm"]).strip().lower() for _, row in chunk if row.get("csm") not in (None, "")
    }
    users = users_by_name(wanted_users)
    parsed: list[RowExtras] = []
    problems: list[tuple[RowExtras, str, str]] = []
    since: dict[str, dt.date | None] = {}
    for line, row in chunk:
        extras, row_problems = extras_parse(line, row, users)
        problems += [(extras, column, message) for column, message in row_problems.items()]
        if not row_problems:
            parsed.append(extras)
        with contextlib.suppress(TypeError, ValueError):
            since[extras.external_id] = dt.date.fromisoformat(str(row.get("customer_since")))
    plans, plan_problems = contracts_plan(parsed, since)
    problems += plan_problems
    bad_lines = {row.line for row, _, _ in problems}
    for row, column, message in problems:
        report.errors.append(ImportRowError(row.line, row.external_id or None, column, message))
    chunk[:] = [(line, row) for line, row in chunk if line not in bad_lines]
    return plans, [row for row in parsed if row.line not in bad_lines]


def _read_problem(exc: csv.Error | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        # The text is decoded a block at a time, so the line is where reading stopped.
        return "The file is not UTF-8 text at or after this line; the rest was not read."
    return str(exc)


def csv_import(*, kind: str, file: TextIO, dry_run: bool = False) -> ImportReport:
    """Import ``accounts`` or ``contracts`` from CSV through the bulk upsert services.

    The header names the fields (accounts: the fields of ``/api/accounts/``, custom
    attributes as ``traits.KEY``; contracts: ``account_external_id`` and the contract
    fields). Rows go in chunks of ``MAX_BULK_ROWS``, each chunk one transaction; invalid
    rows are reported by line and skipped. ``dry_run`` validates and counts, writing
    nothing. A file that cannot be read on (malformed CSV, text that does not decode) is
    reported at the line where reading stopped; the chunks before it stay written.
    """
    if kind not in ("accounts", "contracts"):
        raise ValidationError({"kind": ["Expected accounts or contracts."]})
    upsert = accounts_bulk_upsert if kind == "accounts" else contracts_bulk_upsert
    model = Account if kind == "accounts" else Contract
    report = ImportReport(kind=kind, dry_run=dry_run)
    reader = csv.DictReader(file)
    try:
        fieldnames = reader.fieldnames
    except (csv.Error, UnicodeDecodeError) as exc:
        report.errors.append(ImportRowError(1, None, "non_field_errors", _read_problem(exc)))
        return report
    if not fieldnames:
        report.errors.append(ImportRowError(1, None, "non_field_errors", "The file is empty."))
        return report
    allowed = (
        {*ACCOUNT_EDITABLE_FIELDS, *ACCOUNT_READ_ONLY_FIELDS}
        if kind == "accounts"
        else {*CONTRACT_EDITABLE_FIELDS, CONTRACT_CSV_ACCOUNT_COLUMN}
    )
    refused = {
        column: READ_ONLY_COLUMNS.get(column.strip(), "Unknown column.")
        for column in fieldnames
        if column.strip() in READ_ONLY_COLUMNS
        or (
            column.strip() not in allowed
            and not (kind == "accounts" and column.strip().startswith("traits."))
        )
    }
    if refused:
        for column, message in refused.items():
            report.errors.append(ImportRowError(1, None, column, message))
        return report
    definitions = {d.key: d for d in AttributeDefinition.objects.all()}
    chunk: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
        plans: list[ContractPlan] = []
        extras: list[RowExtras] = []
        if kind == "accounts":
            plans, extras = _accounts_extras(chunk, report)
        rows = [row for _, row in chunk]
        result = upsert(rows=rows, dry_run=dry_run)
        report.created += result.created
        report.updated += result.updated
        for error in result.errors:
            line = chunk[error.index][0]
            for name, messages in error.errors.items():
                if name == EXTRA_CELLS:
                    messages = ["The row has more cells than the header has columns."]
                for message in messages:
                    report.errors.append(ImportRowError(line, error.external_id, name, message))
        refused = {chunk[error.index][0] for error in result.errors}
        plans = [plan for plan in plans if plan.row.line not in refused]
        extras = [row for row in extras if row.line not in refused]
        report.contracts += len(plans)
        if not dry_run:
            for row, column, message in contracts_apply(plans, extras):
                report.errors.append(ImportRowError(row.line, row.external_id, column, message))
                report.contracts -= 1
        chunk.clear()

    try:
        for line, row in _csv_rows(reader, model, definitions):
            report.rows += 1
            chunk.append((line, row))
            if len(chunk) == MAX_BULK_ROWS:
                flush()
        if chunk:
            flush()
    except (csv.Error, UnicodeDecodeError) as exc:
        report.errors.append(
            ImportRowError(reader.line_num, None, "non_field_errors", _read_problem(exc))
        )
    report.errors.sort(key=lambda e: (e.row, e.field))
    return report

"""Bulk upsert of accounts and contracts, and the CSV import built on it.

One service per kind, shared by the REST API (``POST /api/accounts/bulk/``), the
``import_csv`` management command and the admin upload:

- ``accounts_bulk_upsert``: up to ``MAX_BULK_ROWS`` rows, upserted by ``external_id`` in one
  transaction, set-based. Rows are validated in Python with the model fields' own rules
  (the same ones ``account_create`` / ``account_update`` enforce through ``full_clean``),
  then written with ``INSERT … ON CONFLICT (external_id) DO UPDATE`` in batches.
- ``contracts_bulk_upsert``: contracts referencing accounts by ``external_id``, upserted by
  the natural key (account, ``start_date``); the accounts' derived ``arr`` /
  ``renewal_date`` are re-derived once for all touched accounts.

Partial upsert: for an existing account only the fields present in its row are written.
``bulk_create(update_conflicts=True)`` writes every listed ``update_fields`` column, so the
valid rows are grouped by the set of fields they carry and each group is one statement (per
batch) whose ``update_fields`` are exactly that set. CRM syncs send uniform rows, so this
is one or two statements per batch; it needs no read-modify-write of existing rows, so a
concurrent edit of a field the row does not carry is never overwritten with a stale value.
"""

import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from django.db import models, transaction
from django.utils import timezone

from .models import Account, AttributeDefinition, Contract, ContractStatus
from .services import (
    ACCOUNT_EDITABLE_FIELDS,
    CONTRACT_EDITABLE_FIELDS,
    accounts_mark_changed,
    accounts_rederive,
    attribute_value_problem,
)

MAX_BULK_ROWS = 10_000
# Rows per INSERT … ON CONFLICT statement: an account row binds ~25 parameters, so 1,000
# rows stay far below PostgreSQL's 65,535 parameters per statement while keeping round
# trips few (10 statements for a full request).
UPSERT_BATCH_SIZE = 1_000
# external_ids per lookup query (SQLite limits bound variables per statement).
LOOKUP_BATCH_SIZE = 2_000

# Fields a client may send back from GET /api/accounts/ that a bulk row ignores.
ACCOUNT_READ_ONLY_FIELDS = frozenset(
    {"id", "arr", "renewal_date", "csm", "created_at", "updated_at"}
)
CONTRACT_CSV_ACCOUNT_COLUMN = "account_external_id"
EXTRA_CELLS = "extra cells"


@dataclass
class RowError:
    index: int
    external_id: str | None
    errors: dict[str, list[str]]


@dataclass
class BulkUpsertResult:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False
    account_ids: list[int] = field(default_factory=list)


# --- Row validation -------------------------------------------------------------------------


def _has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere (PostgreSQL refuses those)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@dataclass(frozen=True)
class _FieldRule:
    """What the fast path of ``_field_value_clean`` checks for one model field; anything
    it is unsure of goes to the model field's own ``clean`` (which also words the
    errors)."""

    kind: str
    max_length: int | None
    choices: frozenset[str] | None
    blank: bool
    low: int | None
    high: int | None


# The validators the fast path checks itself (or that a type check already covers); a
# field with any other validator always goes through ``clean``.
_FAST_VALIDATORS = (
    MinValueValidator,
    MaxValueValidator,
    MaxLengthValidator,
    ProhibitNullCharactersValidator,
)


def _field_rule(model_field: models.Field) -> _FieldRule:
    lows = [v.limit_value for v in model_field.validators if isinstance(v, MinValueValidator)]
    highs = [v.limit_value for v in model_field.validators if isinstance(v, MaxValueValidator)]
    if not all(isinstance(v, _FAST_VALIDATORS) for v in model_field.validators):
        kind = "other"
    elif isinstance(model_field, models.CharField):
        kind = "text"
    elif isinstance(model_field, models.IntegerField):
        kind = "integer"
    elif type(model_field) is models.DateField:  # not DateTimeField, its subclass
        kind = "date"
    else:
        kind = "other"
    return _FieldRule(
        kind=kind,
        max_length=getattr(model_field, "max_length", None),
        choices=frozenset(str(c) for c, _ in model_field.flatchoices)
        if model_field.choices
        else None,
        blank=model_field.blank,
        low=max(lows) if lows else None,
        high=min(highs) if highs else None,
    )


_RULES: dict[models.Field, _FieldRule] = {}


def _fast_clean(model_field: models.Field, value: Any) -> tuple[bool, Any]:
    """``(True, value)`` when the value certainly passes the field's rules."""
    rule = _RULES.get(model_field)
    if rule is None:
        rule = _RULES[model_field] = _field_rule(model_field)
    if rule.kind == "text" and type(value) is str:
        if (
            (value or rule.blank)
            and (rule.max_length is None or len(value) <= rule.max_length)
            and (rule.choices is None or value in rule.choices or (not value and rule.blank))
        ):
            return True, value
    elif rule.kind == "integer" and type(value) is int:
        if (rule.low is None or value >= rule.low) and (rule.high is None or value <= rule.high):
            return True, value
    elif rule.kind == "date" and type(value) is str and len(value) == 10 and value[4] == "-":
        try:
            return True, dt.date.fromisoformat(value)
        except ValueError:
            pass
    return False, None


def _field_value_clean(model_field: models.Field, value: Any) -> Any:
    """One value checked by the model field's own rules, after the JSON type checks DRF's
    fields make (no booleans for numbers, no fractions for integers, text for text)."""
    if value is None:
        return model_field.clean(None, None)
    if isinstance(model_field, models.BooleanField):
        if not isinstance(value, bool):
            raise ValidationError("Must be a valid boolean.")
        return value
    if isinstance(value, bool):
        raise ValidationError("Expected a value of this field's type, got a boolean.")
    if isinstance(model_field, models.CharField):
        if not isinstance(value, str | int | float | Decimal):
            raise ValidationError("Not a valid string.")
        value = str(value).strip()
        if "\x00" in value:
            raise ValidationError("Null characters are not allowed.")
        if value == "" and model_field.null:
            return None
    elif isinstance(model_field, models.IntegerField):
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError("A valid integer is required.")
        if isinstance(value, str):
            value = value.strip()
            if not (value.lstrip("-").isascii() and value.lstrip("-").isdigit()):
                raise ValidationError("A valid integer is required.")
        elif not isinstance(value, int | float):
            raise ValidationError("A valid integer is required.")
        value = int(value)
    elif isinstance(model_field, models.DecimalField):
        if not isinstance(value, str | int | float | Decimal):
            raise ValidationError("A valid number is required.")
        try:
            value = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError("A valid number is required.") from None
    elif isinstance(model_field, models.DateField) and not isinstance(value, str | dt.date):
        raise ValidationError("Date has wrong format. Use YYYY-MM-DD.")
    certain, cleaned = _fast_clean(model_field, value)
    if certain:
        return cleaned
    return model_field.clean(value, None)


def _messages(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def account_row_clean(
    row: Any, *, exists: bool, definitions: dict[str, AttributeDefinition]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate one bulk row: ``(cleaned fields, errors by field)``.

    ``exists`` says whether an account with the row's external_id exists (then the row is
    a partial update and ``name`` may be omitted). Read-only fields of the API
    representation (``id``, ``arr``, …) are ignored; other unknown fields are errors.
    """
    if not isinstance(row, dict):
        return {}, {"non_field_errors": ["Expected an object with account fields."]}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, value in row.items():
        if name in ACCOUNT_READ_ONLY_FIELDS:
            continue
        if name not in ACCOUNT_EDITABLE_FIELDS:
            errors[str(name)] = ["Unknown or read-only field."]
            continue
        if name == "traits":
            problems = _traits_problems(value, definitions)
            if problems:
                errors["traits"] = problems
            else:
                cleaned["traits"] = value or {}
            continue
        try:
            cleaned[name] = _field_value_clean(Account._meta.get_field(name), value)
        except ValidationError as exc:
            errors[name] = _messages(exc)
    for required in ("external_id",) if exists else ("external_id", "name"):
        if required not in row and required not in errors:
            errors[required] = ["This field is required."]
    return cleaned, errors


def _traits_problems(value: Any, definitions: dict[str, AttributeDefinition]) -> list[str]:
    """The same checks as ``customers.services.traits_validate``, against definitions
    loaded once for the whole request."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return ["Expected an object of custom attributes."]
    if _has_nul(value):
        return ["Null characters are not allowed."]
    problems = []
    for key, item in value.items():
        definition = definitions.get(key)
        if definition is None:
            problems.append(f"{key}: no custom attribute with this key is declared.")
        elif item is not None and (problem := attribute_value_problem(definition, item)):
            problems.append(f"{key}: {problem}")
    return problems


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing_account_ids(external_ids: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(external_ids)), LOOKUP_BATCH_SIZE):
        found.update(Account.objects.filter(external_id__in=chunk).values_list("external_id", "id"))
    return found


def _row_external_id(row: Any) -> str | None:
    if isinstance(row, dict) and isinstance(row.get("external_id"), str | int):
        return str(row["external_id"]).strip()
    return None


# --- Accounts ---------------------------------------------------------------------------------


def accounts_bulk_upsert(
    *, rows: Sequence[Any], atomic: bool = False, dry_run: bool = False
) -> BulkUpsertResult:
    """Create or update accounts by ``external_id``, set-based, in one transaction.

    Invalid rows are reported (index, external_id, ``{field: [messages]}``) and skipped;
    with ``atomic=True`` any invalid row means nothing is written. With ``dry_run=True``
    nothing is written and the counts say what would have been. Written accounts are
    flagged for segment re-evaluation and announced with ``accounts_changed`` after
    commit. Only the fields a row carries are written to an existing account.
    """
    if len(rows) > MAX_BULK_ROWS:
        raise ValidationError({"accounts": [f"At most {MAX_BULK_ROWS} accounts per request."]})
    result = BulkUpsertResult()
    with transaction.atomic():
        existing = _existing_account_ids(
            external_id for row in rows if (external_id := _row_external_id(row))
        )
        definitions = {d.key: d for d in AttributeDefinition.objects.all()}
        groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
        first_index: dict[str, int] = {}
        for index, row in enumerate(rows):
            external_id = _row_external_id(row)
            cleaned, errors = account_row_clean(
                row, exists=external_id in existing, definitions=definitions
            )
            if not errors and cleaned["external_id"] in first_index:
                errors["external_id"] = [
                    f"Duplicate external_id in this request (also at index "
                    f"{first_index[cleaned['external_id']]})."
                ]
            if errors:
                result.errors.append(RowError(index=index, external_id=external_id, errors=errors))
                continue
            first_index[cleaned["external_id"]] = index
            groups[frozenset(cleaned)].append(cleaned)
            if cleaned["external_id"] in existing:
                result.updated += 1
            else:
                result.created += 1
        if dry_run or (atomic and result.errors):
            if atomic and result.errors:
                result.created = result.updated = 0
            return result
        for fields, group in groups.items():
            update_fields = [*sorted(fields - {"external_id"}), "updated_at"]
            for batch in _chunks(group, UPSERT_BATCH_SIZE):
                Account.objects.bulk_create(
                    [Account(**data) for data in batch],
                    update_conflicts=True,
                    unique_fields=["external_id"],
                    update_fields=update_fields,
                )
        written = [data["external_id"] for group in groups.values() for data in group]
        result.account_ids = sorted(_existing_account_ids(written).values())
        accounts_mark_changed(account_ids=result.account_ids)
        result.written = True
    return result


# --- Contracts --------------------------------------------------------------------------------


def contract_row_clean(
    row: Any, *, account_ids: dict[str, int]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate one contract row (``account_external_id`` plus contract fields)."""
    if not isinstance(row, dict):
        return {}, {"non_field_errors": ["Expected an object with contract fields."]}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    external_id = _row_external_id({"external_id": row.get(CONTRACT_CSV_ACCOUNT_COLUMN)})
    if not external_id:
        errors[CONTRACT_CSV_ACCOUNT_COLUMN] = ["This field is required."]
    elif external_id not in account_ids:
        errors[CONTRACT_CSV_ACCOUNT_COLUMN] = [f"No account with external_id {external_id!r}."]
    else:
        cleaned["account_id"] = account_ids[external_id]
    for name, value in row.items():
        if name == CONTRACT_CSV_ACCOUNT_COLUMN:
            continue
        if name not in CONTRACT_EDITABLE_FIELDS:
            errors[str(name)] = ["Unknown or read-only field."]
            continue
        try:
            cleaned[name] = _field_value_clean(Contract._meta.get_field(name), value)
        except ValidationError as exc:
            errors[name] = _messages(exc)
    for required in ("start_date", "end_date", "arr"):
        if required not in row and required not in errors:
            errors[required] = ["This field is required."]
    start, end = cleaned.get("start_date"), cleaned.get("end_date")
    if start and end and end < start and "end_date" not in errors:
        errors["end_date"] = ["The end date must be on or after the start date."]
    return cleaned, errors


def contracts_bulk_upsert(
    *, rows: Sequence[Any], atomic: bool = False, dry_run: bool = False
) -> BulkUpsertResult:
    """Create or update contracts, each naming its account by ``account_external_id``.

    A contract is identified by (account, ``start_date``): a row whose account already has
    a contract starting that day updates it, any other row creates one. The touched
    accounts' ``arr`` / ``renewal_date`` are re-derived once, set-based, which flags them
    for segment re-evaluation. Same error and ``atomic`` / ``dry_run`` rules as
    ``accounts_bulk_upsert``.
    """
    if len(rows) > MAX_BULK_ROWS:
        raise ValidationError({"contracts": [f"At most {MAX_BULK_ROWS} contracts per request."]})
    result = BulkUpsertResult()
    with transaction.atomic():
        account_ids = _existing_account_ids(
            external_id
            for row in rows
            if (external_id := _row_external_id({"external_id": _get(row, "account_external_id")}))
        )
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, row in enumerate(rows):
            cleaned, errors = contract_row_clean(row, account_ids=account_ids)
            if errors:
                result.errors.append(
                    RowError(
                        index=index,
                        external_id=_row_external_id(
                            {"external_id": _get(row, CONTRACT_CSV_ACCOUNT_COLUMN)}
                        ),
                        errors=errors,
                    )
                )
            else:
                valid.append((index, cleaned))
        existing: dict[tuple[int, dt.date], Contract] = {}
        for chunk in _chunks(sorted({c["account_id"] for _, c in valid}), LOOKUP_BATCH_SIZE):
            for contract in Contract.objects.filter(account_id__in=chunk).order_by("id"):
                existing.setdefault((contract.account_id, contract.start_date), contract)
        to_create: dict[tuple[int, dt.date], Contract] = {}
        to_update: dict[int, Contract] = {}
        for index, cleaned in valid:
            key = (cleaned["account_id"], cleaned["start_date"])
            if key in to_create or (key in existing and existing[key].pk in to_update):
                result.errors.append(
                    RowError(
                        index=index,
                        external_id=_row_external_id(
                            {"external_id": _get(rows[index], CONTRACT_CSV_ACCOUNT_COLUMN)}
                        ),
                        errors={"start_date": ["Duplicate contract (account, start_date)."]},
                    )
                )
                continue
            if key in existing:
                contract = existing[key]
                for name, value in cleaned.items():
                    setattr(contract, name, value)
                if contract.end_date < contract.start_date:
                    result.errors.append(
                        RowError(
                            index=index,
                            external_id=_row_external_id(
                                {"external_id": _get(rows[index], CONTRACT_CSV_ACCOUNT_COLUMN)}
                            ),
                            errors={
                                "end_date": ["The end date must be on or after the start date."]
                            },
                        )
                    )
                    continue
                contract.updated_at = timezone.now()
                to_update[contract.pk] = contract
            else:
                to_create[key] = Contract(**{"status": ContractStatus.ACTIVE, **cleaned})
        result.created, result.updated = len(to_create), len(to_update)
        if dry_run or (atomic and result.errors):
            if atomic and result.errors:
                result.created = result.updated = 0
            return result
        Contract.objects.bulk_create(list(to_create.values()), batch_size=UPSERT_BATCH_SIZE)
        Contract.objects.bulk_update(
            list(to_update.values()),
            [*CONTRACT_EDITABLE_FIELDS, "updated_at"],
            batch_size=UPSERT_BATCH_SIZE,
        )
        touched = sorted({c.account_id for c in [*to_create.values(), *to_update.values()]})
        accounts_rederive(account_ids=touched)
        accounts_mark_changed(account_ids=touched)
        result.account_ids = touched
        result.written = True
    return result


def _get(row: Any, key: str) -> Any:
    return row.get(key) if isinstance(row, dict) else None


# --- CSV --------------------------------------------------------------------------------------


@dataclass
class ImportError_:
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
    errors: list[ImportError_] = field(default_factory=list)


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
        report.errors.append(ImportError_(1, None, "non_field_errors", _read_problem(exc)))
        return report
    if not fieldnames:
        report.errors.append(ImportError_(1, None, "non_field_errors", "The file is empty."))
        return report
    allowed = (
        {*ACCOUNT_EDITABLE_FIELDS, *ACCOUNT_READ_ONLY_FIELDS}
        if kind == "accounts"
        else {*CONTRACT_EDITABLE_FIELDS, CONTRACT_CSV_ACCOUNT_COLUMN}
    )
    unknown = [
        column
        for column in fieldnames
        if column.strip() not in allowed
        and not (kind == "accounts" and column.strip().startswith("traits."))
    ]
    if unknown:
        for column in unknown:
            report.errors.append(ImportError_(1, None, column, "Unknown column."))
        return report
    definitions = {d.key: d for d in AttributeDefinition.objects.all()}
    chunk: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
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
                    report.errors.append(ImportError_(line, error.external_id, name, message))
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
            ImportError_(reader.line_num, None, "non_field_errors", _read_problem(exc))
        )
    report.errors.sort(key=lambda e: (e.row, e.field))
    return report

"""Bulk upsert of accounts and contracts (the CSV import, ``customers.csv_import``, is
built on it).

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

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .field_values import (
    PICKLIST_FIELDS,
    PicklistValues,
    field_value_clean,
    has_nul,
    traits_problems,
)
from .models import Account, AttributeDefinition, Contract, ContractStatus
from .services import (
    ACCOUNT_EDITABLE_FIELDS,
    CONTRACT_EDITABLE_FIELDS,
    accounts_mark_changed,
    accounts_rederive,
)

MAX_BULK_ROWS = 100_000
# Rows per INSERT … ON CONFLICT statement: an account row binds ~25 parameters, so 1,000
# rows stay far below PostgreSQL's 65,535 parameters per statement while keeping round
# trips few (10 statements for a full request).
UPSERT_BATCH_SIZE = 1_000
# external_ids per lookup query (SQLite limits bound variables per statement).
LOOKUP_BATCH_SIZE = 2_000

# Fields a client may send back from GET /api/accounts/ that a bulk row ignores.
ACCOUNT_READ_ONLY_FIELDS = frozenset(
    {"id", "arr", "renewal_date", "csm", "health_score", "created_at", "updated_at"}
)
# As sets: ``account_row_clean`` asks once per value (an import: ~800,000 times).
_ACCOUNT_EDITABLE = frozenset(ACCOUNT_EDITABLE_FIELDS)
_PICKLIST_FIELDS = frozenset(PICKLIST_FIELDS)
# The column (or key) of a contract row that names its account.
CONTRACT_CSV_ACCOUNT_COLUMN = "account_external_id"


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


def _messages(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def account_row_clean(
    row: Any,
    *,
    exists: bool,
    definitions: dict[str, AttributeDefinition],
    picklists: PicklistValues | None = None,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate one bulk row: ``(cleaned fields, errors by field)``.

    ``exists`` says whether an account with the row's external_id exists (then the row is
    a partial update and ``name`` may be omitted). Picklist fields are checked against
    ``picklists`` (read now when not given) and put in their stored casing; unknown values
    they accept are remembered there (``add_new_values`` adds them). Read-only fields of the API
    representation (``id``, ``arr``, …) are ignored; other unknown fields are errors.
    """
    if not isinstance(row, dict):
        return {}, {"non_field_errors": ["Expected an object with account fields."]}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if picklists is None:
        picklists = PicklistValues()
    for name, value in row.items():
        if name in ACCOUNT_READ_ONLY_FIELDS:
            continue
        if name not in _ACCOUNT_EDITABLE:
            errors[str(name)] = ["Unknown or read-only field."]
            continue
        if name == "traits":
            # A NUL anywhere in the object (keys included) is refused: PostgreSQL cannot
            # store it.
            if isinstance(value, dict) and has_nul(value):
                problems = ["Null characters are not allowed."]
            else:
                problems = traits_problems(value, definitions)
            if problems:
                errors["traits"] = problems
            else:
                cleaned["traits"] = value or {}
            continue
        try:
            cleaned[name] = field_value_clean(Account._meta.get_field(name), value)
            if name in _PICKLIST_FIELDS:
                cleaned[name] = picklists.clean(name, cleaned[name])
        except ValidationError as exc:
            errors[name] = _messages(exc)
    for required in ("external_id",) if exists else ("external_id", "name"):
        if required not in row and required not in errors:
            errors[required] = ["This field is required."]
    return cleaned, errors


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
        picklists = PicklistValues()
        groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
        first_index: dict[str, int] = {}
        for index, row in enumerate(rows):
            external_id = _row_external_id(row)
            cleaned, errors = account_row_clean(
                row, exists=external_id in existing, definitions=definitions, picklists=picklists
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
        picklists.add_new_values()
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
            cleaned[name] = field_value_clean(Contract._meta.get_field(name), value)
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

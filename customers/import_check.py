"""What one chunk of an import would do: each mapped record checked (cells, the key,
duplicate keys in the file, the account fields through the bulk upsert's own validation,
the owner, the contract) and compared with the stored account, so a record is planned
as created, updated, unchanged or rejected. Reads only; ``import_jobs`` writes."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Lower

from cs_platform.db import dialect

from .bulk_upsert import account_row_clean
from .field_values import field_value_clean
from .import_profiles import CONTRACT_REQUIRED, KEY_TARGET
from .import_reading import MappedRow, ProfileReader
from .models import Account, AssignmentRole, Contract, CSMAssignment
from .services import CONTRACT_EDITABLE_FIELDS

CREATE, UPDATE, UNCHANGED, REJECT = "created", "updated", "unchanged", "rejected"


@dataclass
class PlannedRow:
    row: MappedRow
    action: str
    errors: list[tuple[str, str]] = field(default_factory=list)
    account_row: dict[str, Any] = field(default_factory=dict)
    account_changed: bool = False
    owner_changed: bool = False
    owner_id: int | None = None
    contract_row: dict[str, Any] | None = None
    # field -> (stored value, new value); as JSON by ``diff_plain``.
    diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def diff_plain(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"from": _plain(old), "to": _plain(new)} for name, (old, new) in self.diff.items()
        }


class OwnerDirectory:
    """Active users by username, e-mail or full name ("First Last", as CRM exports write
    the owner), case- and space-insensitive, looked up once per text for the file. A
    username or e-mail wins over a full name; a text that names several users is
    ambiguous."""

    def __init__(self) -> None:
        self.known: dict[str, int | None | str] = {}

    def resolve(self, texts: set[str]) -> None:
        missing = {owner_text_key(t) for t in texts} - set(self.known)
        if not missing:
            return
        exact: dict[str, set[int]] = {t: set() for t in missing}
        by_name: dict[str, set[int]] = {t: set() for t in missing}
        users = (
            get_user_model()
            .objects.filter(is_active=True)
            .annotate(
                username_lower=Lower("username"),
                email_lower=Lower("email"),
                full_name_lower=Lower(Concat("first_name", Value(" "), "last_name")),
            )
            .filter(
                Q(username_lower__in=missing)
                | Q(email_lower__in=missing)
                | Q(full_name_lower__in=missing)
            )
            .values_list("id", "username_lower", "email_lower", "full_name_lower")
        )
        for user_id, username, email, full_name in users:
            for text in (username, email):
                if text in exact:
                    exact[text].add(user_id)
            if full_name in by_name:
                by_name[full_name].add(user_id)
        for text in missing:
            ids = exact[text] or by_name[text]
            self.known[text] = ids.pop() if len(ids) == 1 else ("ambiguous" if ids else None)

    def get(self, text: str) -> int | None | str:
        return self.known.get(owner_text_key(text))


def owner_text_key(text: str) -> str:
    """An owner cell as looked up: lower case, runs of spaces as one."""
    return " ".join(text.split()).lower()


def _plain(value: Any) -> Any:
    """A value as the JSON of a diff."""
    if value is None or isinstance(value, bool | int | str | dict | list):
        return value
    return str(value)


def chunk_plan(
    reader: ProfileReader,
    rows: Sequence[MappedRow],
    *,
    seen_keys: dict[str, int],
    owners: OwnerDirectory,
) -> list[PlannedRow]:
    """Plan every record of one chunk (``seen_keys``: key -> row of its first record in
    the file so far, updated here)."""
    keys = [row.key for row in rows if row.key]
    fields = [*reader.account_fields, *(["traits"] if reader.has_traits else [])]
    existing = {
        values["external_id"]: values
        for values in Account.objects.filter(external_id__in=_rows(dialect().text_rows(keys)))
        .order_by()
        .values("id", "owner_id", *{*fields, "external_id"})
    }
    owner_texts = {row.owner.lower() for row in rows if row.owner}
    owners.resolve(owner_texts)
    # A chunk of new accounts has no current owners to look up (and the lookup, planned
    # without statistics mid-import, would hash every assignment written so far).
    current_owners = (
        _current_owner_ids([v["id"] for v in existing.values()]) if owner_texts and existing else {}
    )
    contracts = _existing_contracts(reader, existing, rows)
    key_column = reader.column_for(KEY_TARGET)
    planned = []
    for row in rows:
        plan = PlannedRow(row=row, action=REJECT)
        for column, messages in row.errors.items():
            plan.errors.extend((column, message) for message in messages)
        key = row.key
        if not key:
            plan.errors.append((key_column, "The key (external_id) is blank."))
        elif key in seen_keys:
            plan.errors.append(
                (
                    key_column,
                    f"Duplicate key {key!r} in the file: row {row.line} repeats row "
                    f"{seen_keys[key]}.",
                )
            )
        else:
            seen_keys[key] = row.line
        stored = existing.get(key)
        _plan_account(reader, plan, stored)
        if row.owner_given:
            _plan_owner(reader, plan, owners, stored, current_owners)
        if row.contract:
            _plan_contract(reader, plan, stored, contracts)
        if plan.errors:
            plan.action = REJECT
        elif stored is None:
            plan.action = CREATE
        else:
            plan.action = UPDATE if plan.diff else UNCHANGED
        planned.append(plan)
    return planned


def _same_as_stored(data: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Whether every mapped value of a record equals the stored account's, compared as the
    check would after cleaning (an ISO date text with the stored date, a money text with
    the stored decimal). Such a record is unchanged, and its values were checked when they
    were written: a re-import of the same file skips most of the check this way."""
    for name, value in data.items():
        old = stored.get(name, _ABSENT)
        if type(old) is type(value) and old == value:
            continue
        if type(value) is not str:
            return False
        if type(old) is dt.date and old.isoformat() == value:
            continue
        if type(old) is Decimal:
            try:
                if Decimal(value) == old:
                    continue
            except InvalidOperation:
                pass
        return False
    return True


_ABSENT = object()


def _plan_account(reader: ProfileReader, plan: PlannedRow, stored: dict | None) -> None:
    row = plan.row
    data = dict(row.account)
    if row.traits:
        merged = {**((stored or {}).get("traits") or {}), **row.traits}
        data["traits"] = {k: v for k, v in merged.items() if v is not None}
    if stored is not None and _same_as_stored(data, stored):
        plan.account_row = {name: stored[name] for name in data}
        return
    cleaned, errors = account_row_clean(
        data,
        exists=stored is not None,
        definitions=reader.definitions,
        picklists=reader.picklists,
    )
    for name, messages in errors.items():
        if name == KEY_TARGET and any(
            column == reader.column_for(name) for column, _ in plan.errors
        ):
            continue  # the key's problem is already named
        plan.errors.extend((reader.column_for(name), message) for message in messages)
    if errors:
        return
    plan.account_row = cleaned
    for name, value in cleaned.items():
        if name == KEY_TARGET:
            continue
        old = stored.get(name) if stored else None
        if stored is None or old != value:
            plan.diff[name] = (old, value)
            plan.account_changed = True


def _plan_owner(
    reader: ProfileReader,
    plan: PlannedRow,
    owners: OwnerDirectory,
    stored: dict | None,
    current_owners: dict[int, int],
) -> None:
    text = plan.row.owner
    owner_id: int | None = None
    if text:
        found = owners.get(text)
        if found is None:
            plan.errors.append(
                (
                    reader.column_for("owner"),
                    f"No active user with the username, e-mail or full name {text!r}.",
                )
            )
            return
        if found == "ambiguous":
            plan.errors.append(
                (
                    reader.column_for("owner"),
                    f"{text!r} matches several users; use a username or e-mail.",
                )
            )
            return
        owner_id = int(found)
    current = current_owners.get(stored["id"]) if stored else None
    plan.owner_id = owner_id
    if current != owner_id:
        plan.owner_changed = True
        plan.diff["owner"] = (current, text or None)


def _plan_contract(
    reader: ProfileReader,
    plan: PlannedRow,
    stored: dict | None,
    contracts: dict[tuple[int, Any], dict],
) -> None:
    cleaned: dict[str, Any] = {}
    for name, value in plan.row.contract.items():
        try:
            cleaned[name] = field_value_clean(Contract._meta.get_field(name), value)
        except ValidationError as exc:
            column = reader.column_for(f"contract.{name}")
            plan.errors.extend((column, message) for message in exc.messages)
    for name in CONTRACT_REQUIRED:
        if name not in plan.row.contract:
            plan.errors.append((reader.column_for(f"contract.{name}"), "This cell is required."))
    start, end = cleaned.get("start_date"), cleaned.get("end_date")
    if start and end and end < start:
        plan.errors.append(
            (reader.column_for("contract.end_date"), "The end date is before the start date.")
        )
    if plan.errors:
        return
    before = contracts.get((stored["id"], start)) if stored else None
    changed = {
        name: (before.get(name) if before else None, value)
        for name, value in cleaned.items()
        if before is None or before.get(name) != value
    }
    if changed:
        plan.contract_row = {"account_external_id": plan.row.key, **cleaned}
        plan.diff.update({f"contract.{name}": change for name, change in changed.items()})


def _current_owner_ids(account_ids: list[int]) -> dict[int, int]:
    return dict(
        CSMAssignment.objects.filter(
            account_id__in=_rows(dialect().id_rows(account_ids)),
            role=AssignmentRole.OWNER,
            ended_at__isnull=True,
        ).values_list("account_id", "user_id")
    )


def _existing_contracts(
    reader: ProfileReader, existing: dict[str, dict], rows: Sequence[MappedRow]
) -> dict[tuple[int, Any], dict]:
    if not reader.has_contract or not existing:
        return {}
    found: dict[tuple[int, Any], dict] = {}
    contracts = Contract.objects.filter(
        account_id__in=_rows(dialect().id_rows([v["id"] for v in existing.values()]))
    ).order_by("id")
    for values in contracts.values("account_id", *CONTRACT_EDITABLE_FIELDS):
        found.setdefault((values["account_id"], values["start_date"]), values)
    return found


def _rows(rows: tuple[str, list[Any]]) -> RawSQL:
    """A dialect's rows of bound values (``id_rows``, ``text_rows``) for ``__in``: one
    parameter for a chunk's 2,000 keys, where a list binds one per key."""
    return RawSQL(*rows)  # noqa: S611 (constant SQL, bound values)

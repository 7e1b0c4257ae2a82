"""Import profiles: what a column of a CRM export may fill, the validation of a profile,
and the built-in profiles for HubSpot's companies export and Salesforce's accounts export
(created by a data migration from ``BUILTIN_PROFILES``)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from .import_models import ImportProfile
from .services import ACCOUNT_EDITABLE_FIELDS, CONTRACT_EDITABLE_FIELDS

KEY_TARGET = "external_id"
OWNER_TARGET = "owner"
TRAIT_PREFIX = "traits."
CONTRACT_PREFIX = "contract."
ACCOUNT_TARGETS = frozenset(ACCOUNT_EDITABLE_FIELDS) - {"traits"}
CONTRACT_TARGETS = frozenset(CONTRACT_EDITABLE_FIELDS)
# A row that carries contract fields must name the contract fully.
CONTRACT_REQUIRED = ("start_date", "end_date", "arr")


def target_kind(target: str) -> str | None:
    """``account``, ``trait``, ``contract``, ``owner`` or None for an unknown target."""
    if target in ACCOUNT_TARGETS:
        return "account"
    if target == OWNER_TARGET:
        return "owner"
    if target.startswith(TRAIT_PREFIX) and len(target) > len(TRAIT_PREFIX):
        return "trait"
    if target.startswith(CONTRACT_PREFIX) and target.removeprefix(CONTRACT_PREFIX) in (
        CONTRACT_TARGETS
    ):
        return "contract"
    return None


def profile_columns_problems(columns: Any) -> list[str]:
    """Why a profile's ``columns`` cannot be used (empty when it can), each naming the
    column by its position and header."""
    if not isinstance(columns, list) or not columns:
        return ["columns: expected a non-empty list of column mappings."]
    problems: list[str] = []
    headers: set[str] = set()
    targets: dict[str, str] = {}
    for position, spec in enumerate(columns):
        where = f"columns[{position}]"
        if not isinstance(spec, dict):
            problems.append(f"{where}: expected an object with column and target.")
            continue
        unknown = set(spec) - {"column", "target", "values", "keep_if_blank"}
        if unknown:
            problems.append(f"{where}: unknown keys {sorted(unknown)}.")
        column, target = spec.get("column"), spec.get("target")
        if not isinstance(column, str) or not column.strip():
            problems.append(f"{where}.column: expected the header of a source column.")
            continue
        where = f"{where} ({column!r})"
        if column.strip().lower() in headers:
            problems.append(f"{where}: this column is mapped twice.")
        headers.add(column.strip().lower())
        if not isinstance(target, str) or target_kind(target) is None:
            problems.append(
                f"{where}.target: {target!r} is not an account field, traits.KEY, "
                f"contract.FIELD or owner."
            )
            continue
        if target in targets and target_kind(target) != "trait":
            problems.append(f"{where}.target: {target} is also filled by {targets[target]!r}.")
        targets[target] = column
        values = spec.get("values", {})
        if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()
        ):
            problems.append(f"{where}.values: expected an object of source value -> value.")
        if not isinstance(spec.get("keep_if_blank", True), bool):
            problems.append(f"{where}.keep_if_blank: expected true or false.")
    if KEY_TARGET not in targets and not problems:
        problems.append("columns: one column must have the target external_id (the upsert key).")
    contract = {t.removeprefix(CONTRACT_PREFIX) for t in targets if t.startswith(CONTRACT_PREFIX)}
    if contract and not set(CONTRACT_REQUIRED) <= contract:
        missing = ", ".join(CONTRACT_PREFIX + name for name in CONTRACT_REQUIRED)
        problems.append(f"columns: a profile with contract fields must map {missing}.")
    return problems


def date_format_problem(date_format: Any) -> str | None:
    if not isinstance(date_format, str) or "%" not in date_format:
        return "Expected a strptime format such as %Y-%m-%d or %m/%d/%Y."
    return None


@transaction.atomic
def import_profile_create(
    *,
    name: str,
    label: str,
    columns: list[dict[str, Any]],
    date_format: str = "%Y-%m-%d",
    description: str = "",
) -> ImportProfile:
    """Create a profile after checking its mappings (a ValidationError names the column)."""
    problems = profile_columns_problems(columns)
    errors: dict[str, list[str]] = {"columns": problems} if problems else {}
    if problem := date_format_problem(date_format):
        errors["date_format"] = [problem]
    if errors:
        raise ValidationError(errors)
    normalized = [
        {
            "column": spec["column"].strip(),
            "target": spec["target"],
            "values": spec.get("values", {}),
            "keep_if_blank": spec.get("keep_if_blank", True),
        }
        for spec in columns
    ]
    profile = ImportProfile(
        name=name,
        label=label,
        columns=normalized,
        date_format=date_format,
        description=description,
    )
    profile.full_clean()
    profile.save()
    return profile


def import_profile_get(*, reference: str) -> ImportProfile:
    """A profile by name or id (what POST /api/imports/ takes)."""
    reference = (reference or "").strip()
    found = ImportProfile.objects.filter(name=reference).first()
    if found is None and reference.isdigit():
        found = ImportProfile.objects.filter(pk=int(reference)).first()
    if found is None:
        names = ", ".join(ImportProfile.objects.values_list("name", flat=True))
        raise ValidationError({"profile": [f"No import profile {reference!r}; known: {names}."]})
    return found


def builtin_profiles() -> list[dict]:
    """The built-in profiles as migration 0010 created them (one definition: the
    migration's, which stays what it was when it ran)."""
    from importlib import import_module

    return import_module("customers.migrations.0010_builtin_import_profiles").PROFILES

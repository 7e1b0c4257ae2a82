"""The columns of an accounts CSV that the accounts API reads but a bulk account row does
not write: ``arr`` (the ARR of the account's contract, created or updated here, with
``renewal_date`` its end), ``csm`` (the owner, by username or e-mail). The others it
shows (``id``, ``created_at``, ``updated_at``) are refused by name: rows are matched by
``external_id``. Used by ``csv_import`` for ``kind=accounts``.

A row's contract: the account's one active contract is updated (its ARR, and its end date
when ``renewal_date`` is given); an account without an active contract gets one, from its
``customer_since`` (else today) to ``renewal_date`` (else the first anniversary of the
start that is not in the past). An account with several active contracts is refused: its
contracts are imported with ``kind=contracts``."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Min, Q

from cs_platform import clock

from .bulk_upsert import contracts_bulk_upsert
from .models import Account, Contract, ContractStatus
from .services import csm_assign

# Columns the accounts API shows that an import cannot set.
READ_ONLY_COLUMNS = {
    "id": "read-only: rows are matched by external_id; remove this column",
    "created_at": "read-only (set when the account is created); remove this column",
    "updated_at": "read-only (set on every change); remove this column",
}
# Columns handled here rather than by the bulk account upsert.
CONTRACT_COLUMNS = ("arr", "renewal_date", "csm")
MAX_ARR = Decimal("1e12")


@dataclass
class RowExtras:
    """What one CSV row asks of its contract and owner, parsed."""

    line: int
    external_id: str
    arr: Decimal | None = None
    renewal_date: dt.date | None = None
    csm: Any = None


def extras_parse(
    line: int, row: dict[str, Any], users: dict[str, Any]
) -> tuple[RowExtras, dict[str, str]]:
    """Pop ``arr``, ``renewal_date`` and ``csm`` off ``row`` and parse them; returns the
    extras and the problems by column (a row with a problem is not imported)."""
    extras = RowExtras(line=line, external_id=str(row.get("external_id") or ""))
    problems: dict[str, str] = {}
    arr_text = row.pop("arr", None)
    if arr_text not in (None, ""):
        text = str(arr_text).strip().replace(",", "").removeprefix("$")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            problems["arr"] = f"Expected an amount of money (e.g. 120000.00), got {arr_text!r}."
        elif amount < 0 or amount >= MAX_ARR or amount.as_tuple().exponent < -2:
            problems["arr"] = "Expected an amount of 0 or more, with at most 2 decimals."
        else:
            extras.arr = amount
    end_text = row.pop("renewal_date", None)
    if end_text not in (None, ""):
        try:
            extras.renewal_date = dt.date.fromisoformat(str(end_text).strip())
        except ValueError:
            problems["renewal_date"] = f"Expected a date (YYYY-MM-DD), got {end_text!r}."
        if extras.arr is None and "arr" not in problems:
            problems["renewal_date"] = (
                "A renewal date is the end of the account's contract: give its arr too."
            )
    csm_text = row.pop("csm", None)
    if csm_text not in (None, ""):
        user = users.get(str(csm_text).strip().lower())
        if user is None:
            problems["csm"] = f"No active user with the username or e-mail {csm_text!r}."
        else:
            extras.csm = user
    return extras, problems


def users_by_name(values: set[str]) -> dict[str, Any]:
    """Active users whose username or e-mail (lower-cased) is among ``values`` (one query)."""
    if not values:
        return {}
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(username__in=values) | Q(email__in=values))
    )
    found: dict[str, Any] = {}
    for user in users:
        found[user.username.lower()] = user
        if user.email:
            found.setdefault(user.email.lower(), user)
    return found


def _next_anniversary(start: dt.date, today: dt.date) -> dt.date:
    years = max(1, today.year - start.year)
    while True:
        try:
            end = start.replace(year=start.year + years)
        except ValueError:  # 29 February
            end = start.replace(year=start.year + years, day=28)
        if end >= today:
            return end
        years += 1


@dataclass
class ContractPlan:
    row: RowExtras
    start: dt.date
    end: dt.date


def contracts_plan(
    extras: list[RowExtras], customer_since: dict[str, dt.date | None]
) -> tuple[list[ContractPlan], list[tuple[RowExtras, str, str]]]:
    """Before anything is written: the contract each row with an ``arr`` will have (start,
    end), and the rows refused (column, message): several active contracts, or a renewal
    date before the contract's start. ``customer_since`` holds the CSV rows' values, by
    external id (None: not in the file). Two queries."""
    today = clock.today()
    wanted = [e for e in extras if e.arr is not None]
    if not wanted:
        return [], []
    accounts = dict(
        Account.objects.filter(external_id__in=[e.external_id for e in wanted]).values_list(
            "external_id", "customer_since"
        )
    )
    active = {
        row["account__external_id"]: row
        for row in Contract.objects.filter(
            account__external_id__in=list(accounts), status=ContractStatus.ACTIVE
        )
        .values("account__external_id")
        .annotate(n=Count("id"), start=Min("start_date"), end=Min("end_date"))
    }
    plans, problems = [], []
    for row in wanted:
        current = active.get(row.external_id)
        if current and current["n"] > 1:
            problems.append(
                (
                    row,
                    "arr",
                    "The account has several active contracts; import them with the "
                    "contracts import instead.",
                )
            )
            continue
        since = customer_since.get(row.external_id) or accounts.get(row.external_id)
        start = current["start"] if current else (since or today)
        end = row.renewal_date or (current["end"] if current else _next_anniversary(start, today))
        if end < start:
            problems.append(
                (row, "renewal_date", f"The renewal date is before the contract's start ({start}).")
            )
            continue
        plans.append(ContractPlan(row=row, start=start, end=end))
    return plans, problems


def contracts_apply(plans: list[ContractPlan], extras: list[RowExtras]) -> list[tuple]:
    """After the accounts are written: assign the owners of the rows with a ``csm`` and
    create or update the planned contracts in one bulk contract upsert (which re-derives
    the accounts' ARR and renewal date and flags them for segment re-evaluation; a
    renewal queue build follows by itself). Returns (row, column, message) of what could
    not be applied (none when the plan was checked)."""
    owners = {e.external_id: e.csm for e in extras if e.csm is not None}
    if owners:
        for account in Account.objects.filter(external_id__in=list(owners)).only(
            "id", "external_id", "owner_id"
        ):
            user = owners[account.external_id]
            if account.owner_id != user.pk:
                csm_assign(account=account, user=user)
    if not plans:
        return []
    result = contracts_bulk_upsert(
        rows=[
            {
                "account_external_id": plan.row.external_id,
                "start_date": plan.start.isoformat(),
                "end_date": plan.end.isoformat(),
                "arr": str(plan.row.arr),
                "status": ContractStatus.ACTIVE,
            }
            for plan in plans
        ]
    )
    problems = []
    for error in result.errors:
        for name, messages in error.errors.items():
            column = "arr" if name == "arr" else "renewal_date"
            problems += [(plans[error.index].row, column, message) for message in messages]
    return problems

"""Writes of a renewal's forecast and outcome (DESIGN 4), and of the churn reasons.

The owner CSM of the contract's account (or a manager) sets the forecast (commit, likely,
at risk, churn) with the ARR they expect, and closes the renewal with its outcome:
``renewed`` or ``downgraded`` with the contract that follows (created here, or an
existing one of the account linked), or ``churned`` with a reason from the managers' list.
Closing marks the contract renewed or churned through the customers services, closes the
renewal's open tasks, and asks for a renewal queue build after commit (the
``renewal_queue_changed`` signal), so the renewal leaves the queue at once."""

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from cs_platform.roles import can_work_account, is_manager
from customers import services as customer_services
from customers.models import Contract, ContractStatus

from ..models import (
    ChurnReason,
    Renewal,
    RenewalChange,
    RenewalChangeKind,
    RenewalForecast,
    RenewalOutcome,
    Task,
    TaskSource,
    TaskStatus,
)
from ..signals import renewal_queue_changed
from .tasks import task_set_status

# A renewal created here runs one year from the day after the old contract ends, unless
# an end date is given.
RENEWAL_TERM_DAYS = 365


def renewal_can_change(user: Any, contract: Contract) -> bool:
    """The owner CSM of the contract's account, or a manager. (``contract.account`` is
    read: select_related it in lists.)"""
    return bool(user and user.is_authenticated and can_work_account(user, contract.account))


def _ensure_can_change(by: Any, contract: Contract) -> None:
    if by is not None and not renewal_can_change(by, contract):
        raise PermissionDenied("Only the account's owner CSM or a manager can change its renewal.")


def _money(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: [f"Expected an amount of money, got {value!r}."]}) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError({field: ["Expected an amount of 0 or more."]})
    if amount.as_tuple().exponent < -2 or amount >= Decimal("1e12"):
        raise ValidationError({field: ["Expected at most 12 digits and 2 decimals."]})
    return amount.quantize(Decimal("0.01"))


def _locked_open_renewal(contract: Contract, by: Any) -> tuple[Contract, Renewal]:
    """The contract (locked, with its account as stored) and its renewal row (created if
    missing, locked); refused unless ``by`` may change it, the contract is active and its
    renewal still open."""
    locked = (
        Contract.objects.select_related("account")
        .select_for_update(of=("self",))
        .get(pk=contract.pk)
    )
    _ensure_can_change(by, locked)
    renewal, _ = Renewal.objects.get_or_create(contract=locked)
    renewal = Renewal.objects.select_for_update().get(pk=renewal.pk)
    if renewal.outcome:
        outcome = renewal.get_outcome_display().lower()
        raise ValidationError({"contract": [f"This renewal is already closed ({outcome})."]})
    if locked.status != ContractStatus.ACTIVE:
        status = locked.get_status_display().lower()
        raise ValidationError(
            {"contract": [f"This contract is {status}, not active: it has no open renewal."]}
        )
    return locked, renewal


@transaction.atomic
def renewal_forecast_set(
    *,
    contract: Contract,
    forecast: str,
    expected_arr: Any = None,
    note: str = "",
    by: Any = None,
) -> Renewal:
    """Set the forecast of ``contract``'s renewal. ``expected_arr`` defaults to the
    contract's ARR (0 for ``churn``). ``by`` None is the system."""
    if forecast not in RenewalForecast.values:
        choices = ", ".join(RenewalForecast.values)
        raise ValidationError({"forecast": [f"Unknown forecast {forecast!r}; expected {choices}."]})
    locked, renewal = _locked_open_renewal(contract, by)
    if expected_arr in (None, ""):
        expected = Decimal("0.00") if forecast == RenewalForecast.CHURN else locked.arr
    else:
        expected = _money(expected_arr, "expected_arr")
    now = timezone.now()
    actor = by if by is not None and by.is_authenticated else None
    renewal.forecast, renewal.expected_arr = forecast, expected
    renewal.forecast_note, renewal.forecast_by, renewal.forecast_at = note, actor, now
    renewal.full_clean(validate_unique=False, validate_constraints=False)
    renewal.save(
        update_fields=[
            "forecast",
            "expected_arr",
            "forecast_note",
            "forecast_by",
            "forecast_at",
            "updated_at",
        ]
    )
    RenewalChange.objects.create(
        renewal=renewal,
        kind=RenewalChangeKind.FORECAST,
        forecast=forecast,
        arr=expected,
        note=note,
        by=actor,
        at=now,
    )
    return renewal


def _one_term_after(day: date) -> date:
    return day + timedelta(days=RENEWAL_TERM_DAYS)


def _next_contract(
    contract: Contract,
    *,
    new_contract: Contract | None,
    new_arr: Any,
    new_end_date: date | None,
) -> Contract:
    """The contract that follows ``contract`` (locked, active): ``new_contract`` when one
    of the account's other active contracts is given, else a new one through
    ``customers.services.contract_renew`` (which marks the old one renewed)."""
    if new_contract is not None:
        if new_contract.pk == contract.pk or new_contract.account_id != contract.account_id:
            raise ValidationError({"new_contract": ["Pick another contract of the same account."]})
        if new_contract.status != ContractStatus.ACTIVE:
            raise ValidationError({"new_contract": ["The new contract must be active."]})
        if Renewal.objects.filter(new_contract=new_contract).exists():
            raise ValidationError(
                {"new_contract": ["That contract already follows another renewal."]}
            )
        customer_services.contract_update(
            contract=contract, data={"status": ContractStatus.RENEWED}
        )
        return new_contract
    end = new_end_date or _one_term_after(contract.end_date)
    if end <= contract.end_date:
        raise ValidationError(
            {"new_end_date": [f"The new contract must end after {contract.end_date}."]}
        )
    arr = None if new_arr in (None, "") else _money(new_arr, "new_arr")
    return customer_services.contract_renew(contract=contract, end_date=end, arr=arr)


@transaction.atomic
def renewal_close(
    *,
    contract: Contract,
    outcome: str,
    by: Any = None,
    churn_reason: ChurnReason | None = None,
    new_contract: Contract | None = None,
    new_arr: Any = None,
    new_end_date: date | None = None,
    note: str = "",
) -> Renewal:
    """Record how ``contract``'s renewal ended.

    - ``renewed`` / ``downgraded``: the contract is marked renewed and followed by
      ``new_contract`` (another active contract of the account) or by a new contract
      created from ``new_arr`` (default: the old ARR) and ``new_end_date`` (default: a
      year after the old end); a downgrade's new ARR must be lower than the old.
    - ``churned``: the contract is marked churned; ``churn_reason`` (an active reason)
      is required.

    The renewal's open tasks are marked done, and a renewal queue build is asked for
    after commit."""
    if outcome not in RenewalOutcome.values:
        choices = ", ".join(RenewalOutcome.values)
        raise ValidationError({"outcome": [f"Unknown outcome {outcome!r}; expected {choices}."]})
    locked, renewal = _locked_open_renewal(contract, by)
    following = None
    if outcome == RenewalOutcome.CHURNED:
        if churn_reason is None:
            raise ValidationError({"churn_reason": ["Say why the customer churned."]})
        if not churn_reason.is_active:
            raise ValidationError({"churn_reason": ["That reason is no longer in use."]})
        customer_services.contract_update(contract=locked, data={"status": ContractStatus.CHURNED})
        outcome_arr = Decimal("0.00")
    else:
        if new_contract is not None and new_arr not in (None, ""):
            raise ValidationError(
                {"new_arr": ["Give either an existing contract or the new ARR, not both."]}
            )
        if outcome == RenewalOutcome.DOWNGRADED and new_contract is None and new_arr in (None, ""):
            raise ValidationError({"new_arr": ["A downgrade needs the new, lower ARR."]})
        following = _next_contract(
            locked, new_contract=new_contract, new_arr=new_arr, new_end_date=new_end_date
        )
        outcome_arr = following.arr
        if outcome == RenewalOutcome.DOWNGRADED and outcome_arr >= locked.arr:
            field = "new_contract" if new_contract is not None else "new_arr"
            raise ValidationError(
                {field: [f"A downgrade renews below the current ARR ({locked.arr})."]}
            )
        churn_reason = None
    now = timezone.now()
    actor = by if by is not None and by.is_authenticated else None
    renewal.outcome, renewal.outcome_arr, renewal.outcome_note = outcome, outcome_arr, note
    renewal.churn_reason, renewal.new_contract = churn_reason, following
    renewal.closed_by, renewal.closed_at = actor, now
    renewal.save(
        update_fields=[
            "outcome",
            "outcome_arr",
            "outcome_note",
            "churn_reason",
            "new_contract",
            "closed_by",
            "closed_at",
            "updated_at",
        ]
    )
    RenewalChange.objects.create(
        renewal=renewal,
        kind=RenewalChangeKind.OUTCOME,
        outcome=outcome,
        arr=outcome_arr,
        note=note,
        by=actor,
        at=now,
    )
    label = renewal.get_outcome_display().lower()
    open_tasks = Task.objects.filter(
        contract=locked,
        source=TaskSource.RENEWAL,
        status__in=[TaskStatus.OPEN, TaskStatus.SNOOZED],
    )
    for task in open_tasks:  # one, or a handful left by older builds
        task_set_status(task=task, status=TaskStatus.DONE, note=f"Renewal closed: {label}.")
    renewal_queue_changed.send(sender=Renewal)
    return renewal


@transaction.atomic
def churn_reason_create(
    *, name: str, order: int = 0, is_active: bool = True, by: Any
) -> ChurnReason:
    """Add a churn reason (managers)."""
    if by is not None and not is_manager(by):
        raise PermissionDenied("Only managers edit the churn reasons.")
    reason = ChurnReason(name=(name or "").strip(), order=order, is_active=is_active)
    reason.full_clean()
    reason.save()
    return reason


CHURN_REASON_FIELDS = ("name", "order", "is_active")


@transaction.atomic
def churn_reason_update(*, reason: ChurnReason, data: dict[str, Any], by: Any) -> ChurnReason:
    """Rename, reorder or switch a churn reason on or off (managers)."""
    if by is not None and not is_manager(by):
        raise PermissionDenied("Only managers edit the churn reasons.")
    unknown = sorted(set(data) - set(CHURN_REASON_FIELDS))
    if unknown:
        raise ValidationError({name: ["Unknown or read-only field."] for name in unknown})
    for name, value in data.items():
        setattr(reason, name, value.strip() if name == "name" else value)
    reason.full_clean()
    if data:
        reason.save(update_fields=list(data))
    return reason

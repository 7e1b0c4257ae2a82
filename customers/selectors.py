"""Reads of the customer domain; these own the select_related / prefetch_related."""

from django.db.models import Prefetch, QuerySet

from .models import Account, AssignmentRole, Contract, CSMAssignment


def account_list() -> QuerySet[Account]:
    return Account.objects.select_related("owner")


def account_get(*, account_id: int) -> Account:
    return (
        Account.objects.select_related("owner")
        .prefetch_related(
            Prefetch("contracts", queryset=Contract.objects.order_by("-end_date", "-id")),
            Prefetch(
                "assignments",
                queryset=CSMAssignment.objects.select_related("user").order_by(
                    "-started_at", "-id"
                ),
            ),
        )
        .get(pk=account_id)
    )


def csm_book(*, user) -> QuerySet[Account]:
    """The accounts ``user`` currently owns."""
    return Account.objects.filter(owner=user).select_related("owner")


def current_owner_assignment(*, account: Account) -> CSMAssignment | None:
    return (
        CSMAssignment.objects.filter(
            account=account, role=AssignmentRole.OWNER, ended_at__isnull=True
        )
        .select_related("user")
        .first()
    )


def assignment_history(*, account: Account) -> QuerySet[CSMAssignment]:
    return CSMAssignment.objects.filter(account=account).select_related("user")


def contract_list() -> QuerySet[Contract]:
    return Contract.objects.select_related("account")

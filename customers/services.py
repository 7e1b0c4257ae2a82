"""Writes to the customer domain. Every write that can change what a segment rule sees marks
the accounts for re-evaluation and sends ``accounts_changed`` after commit."""

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import DecimalField, F, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from cs_platform.db import dialect, load_sql, table_name

from .field_values import PICKLIST_FIELDS, PicklistValues, traits_problems
from .models import (
    Account,
    AssignmentRole,
    AttributeDefinition,
    Contract,
    ContractStatus,
    CSMAssignment,
    Note,
    PendingEvaluation,
)
from .signals import account_deleting, accounts_changed, accounts_marked

User = get_user_model()

ACCOUNT_EDITABLE_FIELDS = (
    "name",
    "external_id",
    "domain",
    "industry",
    "region",
    "country",
    "employees",
    "business_model",
    "plan",
    "lifecycle_stage",
    "customer_since",
    "churned_on",
    "has_champion",
    "referenceable",
    "last_seen_at",
    "active_users",
    "licensed_seats",
    "open_tickets",
    "cost_to_serve",
    "acquisition_cost",
    "traits",
)
# ``health_score`` is not among them: it is the computed health score (the health app
# writes it; docs/health.md), read-only through the API, forms and imports.
CONTRACT_EDITABLE_FIELDS = ("start_date", "end_date", "arr", "status", "auto_renew", "seats")


def accounts_mark_changed(*, account_ids: Iterable[int]) -> int:
    """Mark accounts for segment re-evaluation (a ``PendingEvaluation`` row each), send
    ``accounts_marked`` (its receivers record the sweep in the same transaction), and
    announce it with ``accounts_changed`` after commit. Call it in the transaction that
    writes the accounts, so the write, its mark and the work commit together. Returns how
    many accounts were marked (those of ``account_ids`` that exist).

    One upsert of every account, in id order: ``INSERT ... SELECT ... ON CONFLICT
    (account_id) DO UPDATE SET marked_at`` (accounts that no longer exist are left out). DO UPDATE, not DO NOTHING, because of the
    sweep (``segments.engine.segments_evaluate_changed_accounts``): a sweep batch holds
    the rows it took locked (``FOR UPDATE``) until it commits, and deletes them then. DO
    UPDATE waits for that lock, finds the row deleted, and inserts a new one, so an
    account written while a batch evaluates it (which may have read the old values) is
    swept again. DO NOTHING would see the locked row, do nothing, and the batch would then
    delete the only mark. On SQLite every write transaction holds the database lock, so a
    batch and a writer never overlap at all.

    Lock order: a writer waiting here holds its account row locks, so a writer that locks
    the account ``FOR UPDATE``, changes ``external_id`` or deletes it marks first, and
    plain updates lock ``FOR NO KEY UPDATE``: nothing a batch does while holding marks
    (writing rows that refer to the account) can then wait for the writer.
    """
    ids = sorted(set(account_ids))
    if not ids:
        return 0
    # The ids travel as one parameter (no model instance and no bound value per account:
    # that was a tenth of a 100,000-row import); ORDER BY keeps the id order.
    rows_sql, rows_params = dialect().id_rows(ids)
    statement = load_sql(
        "customers",
        "pending_evaluation_mark_matching",
        pending_evaluation=table_name(PendingEvaluation),
        accounts=f"SELECT id FROM {table_name(Account)} WHERE id IN ({rows_sql}) ORDER BY id",
        on_conflict="DO UPDATE SET marked_at = excluded.marked_at",
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [timezone.now(), *rows_params])
        marked = cursor.rowcount
    accounts_marks_announce(account_ids=ids)
    return marked


def accounts_marks_announce(*, account_ids: list[int] | None) -> None:
    """What follows marks written in the current transaction: ``accounts_marked`` now,
    ``accounts_changed`` after commit (``account_ids=None``: too many to list)."""
    accounts_marked.send(sender=Account)
    transaction.on_commit(lambda: accounts_changed.send(sender=Account, account_ids=account_ids))


def accounts_mark_changed_matching(
    *, accounts: QuerySet[Account], wait_for_sweep: bool = True
) -> int:
    """``accounts_mark_changed`` for every account of a queryset, in one INSERT ... SELECT
    (no ids through Python: a merge over a million accounts marks them in seconds);
    returns how many were marked. ``accounts_changed`` is sent after commit with
    ``account_ids=None`` (too many to list).

    ``wait_for_sweep=False``: an account already marked keeps its mark untouched (ON
    CONFLICT DO NOTHING), so the statement never waits for a sweep batch that holds it.
    For writers a sweep batch may itself wait for (the health engine, whose lock the
    batch's health rescoring takes): such a batch re-reads the account after the writer
    commits, so the existing mark is enough."""
    select_sql, select_params = accounts.order_by().values("id").query.sql_with_params()
    statement = load_sql(
        "customers",
        "pending_evaluation_mark_matching",
        pending_evaluation=table_name(PendingEvaluation),
        accounts=select_sql,
        on_conflict="DO UPDATE SET marked_at = excluded.marked_at"
        if wait_for_sweep
        else "DO NOTHING",
    )
    # The marked_at parameter comes first: its %s precedes the subquery's.
    with connection.cursor() as cursor:
        cursor.execute(statement, [timezone.now(), *select_params])
        marked = cursor.rowcount
    if marked:
        accounts_marks_announce(account_ids=None)
    return marked


def _reject_unknown(data: dict[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError({name: ["Unknown or read-only field."] for name in unknown})


def _assign_validated(
    instance: Account | Contract, data: dict[str, Any], allowed: Iterable[str]
) -> None:
    """Set the ``allowed`` fields in ``data`` on ``instance`` and ``full_clean`` it (nothing
    is saved): a 400 names an unknown field or an invalid value."""
    _reject_unknown(data, allowed)
    for name, value in data.items():
        setattr(instance, name, value)
    instance.full_clean()


def traits_validate(traits: Any) -> None:
    """Check ``Account.traits`` against the declared AttributeDefinitions."""
    if traits in (None, {}):
        return
    keys = list(traits) if isinstance(traits, dict) else []
    definitions = {d.key: d for d in AttributeDefinition.objects.filter(key__in=keys)}
    if problems := traits_problems(traits, definitions):
        raise ValidationError({"traits": problems})


def picklist_fields_clean(account: Account, names: Iterable[str]) -> None:
    """Put the picklist fields among ``names`` in their stored casing, adding unknown values
    to the picklists that accept them (DESIGN 10); a ValidationError names each field whose
    value its picklist refuses."""
    names = [name for name in names if name in PICKLIST_FIELDS]
    if not names:
        return
    picklists = PicklistValues()
    errors: dict[str, list[str]] = {}
    for name in names:
        try:
            setattr(account, name, picklists.clean(name, getattr(account, name)))
        except ValidationError as exc:
            errors[name] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    picklists.add_new_values()


@transaction.atomic
def account_create(**data: Any) -> Account:
    """Create an account from the fields of DESIGN section 1 (name, external_id required)."""
    account = Account()
    _assign_validated(account, data, ACCOUNT_EDITABLE_FIELDS)
    traits_validate(account.traits)
    picklist_fields_clean(account, data)
    account.save()
    accounts_mark_changed(account_ids=[account.id])
    return account


@transaction.atomic
def account_update(*, account: Account, data: dict[str, Any]) -> Account:
    """Change some fields of an account; only the given fields are written."""
    _assign_validated(account, data, ACCOUNT_EDITABLE_FIELDS)
    if "traits" in data:
        traits_validate(account.traits)
    picklist_fields_clean(account, data)
    if data:
        # Marked first: the write may change external_id (see accounts_mark_changed).
        accounts_mark_changed(account_ids=[account.id])
        account.save(update_fields=[*data, "updated_at"])
    return account


def accounts_rederive(
    *,
    account_ids: Iterable[int] | None = None,
    id_range: tuple[int, int] | None = None,
    dry_run: bool = False,
) -> list[int]:
    """Re-derive ``arr`` and ``renewal_date`` from active contracts, set-based.

    Only accounts whose stored values differ from the derived ones are written (so a run
    with no drift writes nothing); their ids are returned. Limit the work with
    ``account_ids`` or an inclusive ``id_range``. With ``dry_run`` nothing is written: the
    ids of the drifted accounts are only reported.
    """
    active = Contract.objects.filter(account=OuterRef("pk"), status=ContractStatus.ACTIVE)
    # Rounded to cents: SQLite sums decimals as floats (12.1 + 0.2 != 12.3 there), which
    # would report drift on every multi-contract account and store float noise.
    arr_sum = Round(
        Coalesce(
            Subquery(
                active.order_by().values("account").annotate(total=Sum("arr")).values("total")[:1],
                output_field=DecimalField(max_digits=14, decimal_places=2),
            ),
            Value(Decimal("0")),
        ),
        2,
    )
    earliest_end = Subquery(
        active.order_by().values("account").annotate(first=Min("end_date")).values("first")[:1]
    )
    accounts = Account.objects.all()
    if account_ids is not None:
        accounts = accounts.filter(id__in=list(account_ids))
    if id_range is not None:
        accounts = accounts.filter(id__range=id_range)
    drift = (
        ~Q(arr=F("derived_arr"))
        | Q(renewal_date__isnull=True, derived_renewal__isnull=False)
        | Q(renewal_date__isnull=False, derived_renewal__isnull=True)
        | (
            Q(renewal_date__isnull=False, derived_renewal__isnull=False)
            & ~Q(renewal_date=F("derived_renewal"))
        )
    )
    ids = list(
        accounts.annotate(derived_arr=arr_sum, derived_renewal=earliest_end)
        .filter(drift)
        .values_list("id", flat=True)
    )
    if ids and not dry_run:
        with transaction.atomic():
            Account.objects.filter(id__in=ids).update(
                arr=arr_sum, renewal_date=earliest_end, updated_at=timezone.now()
            )
            accounts_mark_changed(account_ids=ids)
    return ids


def accounts_rederive_owner(
    *,
    account_ids: Iterable[int] | None = None,
    id_range: tuple[int, int] | None = None,
    dry_run: bool = False,
) -> list[int]:
    """Re-derive ``Account.owner`` from the current owner CSMAssignment, set-based.

    Same contract as ``accounts_rederive``: only drifted accounts are written (none with
    ``dry_run``) and their ids are returned.
    """
    current_owner = Subquery(
        CSMAssignment.objects.filter(
            account=OuterRef("pk"), role=AssignmentRole.OWNER, ended_at__isnull=True
        )
        .order_by("-started_at", "-id")
        .values("user")[:1]
    )
    accounts = Account.objects.all()
    if account_ids is not None:
        accounts = accounts.filter(id__in=list(account_ids))
    if id_range is not None:
        accounts = accounts.filter(id__range=id_range)
    drift = (
        Q(owner__isnull=True, derived_owner__isnull=False)
        | Q(owner__isnull=False, derived_owner__isnull=True)
        | (Q(owner__isnull=False, derived_owner__isnull=False) & ~Q(owner_id=F("derived_owner")))
    )
    ids = list(
        accounts.annotate(derived_owner=current_owner).filter(drift).values_list("id", flat=True)
    )
    if ids and not dry_run:
        with transaction.atomic():
            Account.objects.filter(id__in=ids).update(
                owner=current_owner, updated_at=timezone.now()
            )
            accounts_mark_changed(account_ids=ids)
    return ids


@transaction.atomic
def accounts_rederive_batch(
    *,
    account_ids: Iterable[int] | None = None,
    id_range: tuple[int, int] | None = None,
    dry_run: bool = False,
) -> tuple[list[int], list[int]]:
    """One bounded step of a full re-derive (``customers_rederive``, the sweep task): both
    ``accounts_rederive`` and ``accounts_rederive_owner`` in one transaction. Returns the
    ids whose arr/renewal_date drifted and those whose owner drifted."""
    # The correlated subqueries look expensive to the planner, which then spends longer
    # JIT-compiling the batch than running it.
    with connection.cursor() as cursor:
        dialect().tune_transaction(cursor)
    money = accounts_rederive(account_ids=account_ids, id_range=id_range, dry_run=dry_run)
    owner = accounts_rederive_owner(account_ids=account_ids, id_range=id_range, dry_run=dry_run)
    return money, owner


@transaction.atomic
def contract_create(*, account: Account, **data: Any) -> Contract:
    """Add a contract and keep the account's ``arr`` / ``renewal_date`` in step."""
    contract = Contract(account=account)
    _assign_validated(contract, data, CONTRACT_EDITABLE_FIELDS)
    contract.save()
    accounts_rederive(account_ids=[account.id])
    return contract


@transaction.atomic
def contract_update(*, contract: Contract, data: dict[str, Any]) -> Contract:
    """Change a contract (renew, churn, cancel, edit) and re-derive its account."""
    _assign_validated(contract, data, CONTRACT_EDITABLE_FIELDS)
    if data:
        contract.save(update_fields=[*data, "updated_at"])
        accounts_rederive(account_ids=[contract.account_id])
    return contract


@transaction.atomic
def contract_renew(
    *, contract: Contract, end_date: dt.date, arr: Decimal | None = None, seats: int | None = None
) -> Contract:
    """Mark a contract renewed and create its successor starting the day after it ends."""
    contract_update(contract=contract, data={"status": ContractStatus.RENEWED})
    return contract_create(
        account=contract.account,
        start_date=contract.end_date + dt.timedelta(days=1),
        end_date=end_date,
        arr=contract.arr if arr is None else arr,
        seats=contract.seats if seats is None else seats,
        auto_renew=contract.auto_renew,
        status=ContractStatus.ACTIVE,
    )


@transaction.atomic
def csm_assign(
    *,
    account: Account,
    user: Any,
    role: str = AssignmentRole.OWNER,
    at: dt.datetime | None = None,
) -> CSMAssignment:
    """Make ``user`` hold ``role`` on ``account`` from ``at`` (default now).

    For the owner role the previous current owner's assignment is closed first, so the
    history is kept and the database's one-current-owner constraint holds. The account
    row is locked so two concurrent assignments serialize instead of both closing nothing
    (FOR NO KEY UPDATE: enough for that, and weaker than anything a segment sweep batch
    that holds the account's mark could wait for; see ``accounts_mark_changed``).
    """
    if role not in AssignmentRole.values:
        raise ValidationError({"role": [f"Unknown role {role!r}."]})
    at = at or timezone.now()
    account = Account.objects.select_for_update(no_key=True).get(pk=account.pk)
    current = CSMAssignment.objects.filter(account=account, role=role, ended_at__isnull=True)
    if role == AssignmentRole.OWNER:
        existing = current.first()
        if existing and existing.user_id == user.pk:
            return existing
        current.update(ended_at=at)
    else:
        existing = current.filter(user=user).first()
        if existing:
            return existing
    assignment = CSMAssignment(account=account, user=user, role=role, started_at=at)
    assignment.full_clean()
    assignment.save()
    if role == AssignmentRole.OWNER:
        _account_owner_set(account, user)
    return assignment


def _account_owner_set(account: Account, user: Any) -> None:
    """Write the account's derived ``owner`` column and mark the account changed."""
    account.owner = user
    account.save(update_fields=["owner", "updated_at"])
    accounts_mark_changed(account_ids=[account.id])


@transaction.atomic
def csm_unassign(
    *,
    account: Account,
    role: str = AssignmentRole.OWNER,
    user: Any = None,
    at: dt.datetime | None = None,
) -> int:
    """End current assignments of ``role`` (of ``user`` only, if given). Returns how many."""
    at = at or timezone.now()
    account = Account.objects.select_for_update(no_key=True).get(pk=account.pk)
    current = CSMAssignment.objects.filter(account=account, role=role, ended_at__isnull=True)
    if user is not None:
        current = current.filter(user=user)
    ended = current.update(ended_at=at)
    if role == AssignmentRole.OWNER and ended:
        _account_owner_set(account, None)
    return ended


@transaction.atomic
def note_create(
    *,
    account: Account,
    author: Any,
    body: str,
    kind: str = "note",
    happened_at: dt.datetime | None = None,
) -> Note:
    note = Note(
        account=account,
        author=author,
        body=body,
        kind=kind,
        happened_at=happened_at or timezone.now(),
    )
    note.full_clean()
    note.save()
    return note


@transaction.atomic
def attribute_definition_create(**data: Any) -> AttributeDefinition:
    definition = AttributeDefinition(**data)
    definition.full_clean()
    if definition.type == "choice" and not (
        isinstance(definition.choices, list)
        and definition.choices
        and all(isinstance(c, str) for c in definition.choices)
    ):
        raise ValidationError({"choices": ["A choice attribute needs a list of text choices."]})
    definition.save()
    return definition


@transaction.atomic
def account_delete(*, account: Account) -> None:
    """Delete an account with its contracts, assignments, notes and memberships (cascade).

    The id is announced with ``accounts_changed`` after commit so segment counts and ARR
    are recomputed; receivers must tolerate ids that no longer exist."""
    accounts_delete(account_ids=[account.id])


@transaction.atomic
def accounts_delete(*, account_ids: Iterable[int]) -> int:
    """``account_delete`` for several accounts in one transaction (the admin's bulk
    delete); returns how many accounts were deleted."""
    account_ids = sorted(set(account_ids))
    if not account_ids:
        return 0
    # Before anything is collected: other apps' writers (the renewal queue build) finish
    # first, so the cascade below finds the rows they wrote for these accounts.
    account_deleting.send(sender=Account, account_ids=account_ids)
    # Marked first (see accounts_mark_changed): this waits for a sweep batch that holds an
    # account and keeps later batches off it; the delete then cascades to the marks.
    accounts_mark_changed(account_ids=account_ids)
    _, deleted = Account.objects.filter(pk__in=account_ids).delete()
    return deleted.get(Account._meta.label, 0)

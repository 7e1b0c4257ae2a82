"""Reads of the customer domain; these own the select_related / prefetch_related."""

import operator
from functools import reduce

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Case, Count, F, IntegerField, Prefetch, Q, QuerySet, Value, When

from cs_platform.reference import remembered
from cs_platform.roles import CSMS, MANAGERS

from .models import (
    Account,
    AssignmentRole,
    Contract,
    ContractItem,
    ContractStatus,
    CSMAssignment,
    PendingEvaluation,
    Picklist,
    PicklistValue,
    Product,
)

User = get_user_model()


def account_list() -> QuerySet[Account]:
    return Account.objects.select_related("owner")


def account_get(*, account_id: int, assignments: bool = True) -> Account:
    """The account with its owner and contracts and, unless ``assignments`` is False (a
    page that reads its owners' history its own way), its assignments."""
    prefetches = [Prefetch("contracts", queryset=Contract.objects.order_by("-end_date", "-id"))]
    if assignments:
        prefetches.append(
            Prefetch(
                "assignments",
                queryset=CSMAssignment.objects.select_related("user").order_by(
                    "-started_at", "-id"
                ),
            )
        )
    return Account.objects.select_related("owner").prefetch_related(*prefetches).get(pk=account_id)


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
    return Contract.objects.select_related("account").prefetch_related("items__product")


def account_ids_pending_evaluation() -> QuerySet:
    """The ids of the accounts marked for segment re-evaluation and not swept yet."""
    return PendingEvaluation.objects.order_by("account_id").values_list("account_id", flat=True)


# --- the accounts list, a page at a time ------------------------------------------------------

# The accounts list's sort on the owner's username, as its ORM path.
OWNER_USERNAME = "owner__username"


def _sort_nullable(column: str) -> bool:
    """Whether the accounts list's sort ``column`` can be unknown (no owner: no username)."""
    return column == OWNER_USERNAME or Account._meta.get_field(column).null


def accounts_ordered(
    accounts: QuerySet[Account], *, column: str, descending: bool
) -> QuerySet[Account]:
    """``accounts`` in one sort order (ties by id, unknown values last in both directions)
    as a single queryset: the order ``AccountPages`` reads in parts (the CSV export)."""
    if not _sort_nullable(column):
        # A plain ORDER BY lets PostgreSQL walk the column's index (no full sort).
        order = F(column).desc() if descending else F(column).asc()
    else:
        order = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
    return accounts.order_by(order, "-id" if descending else "id")


class AccountPages:
    """The accounts of ``accounts`` in one sort order (ties by id, unknown values last in
    both directions), for a ``Paginator``: ``count()`` and slicing.

    A b-tree serves ``ORDER BY`` only in its own order (ASC NULLS LAST) or backwards
    (DESC NULLS FIRST), and never for another table's column. Sorting a nullable column
    descending with nulls last, or by the owner's username, would sort every matching
    row for each page (100k accounts: 100+ ms, on every core with parallel workers).
    Such an order is read here as consecutive parts whose own order an index serves:

    - a nullable column descending: its known values (``column DESC, id DESC``: a
      backward index scan), then its unknown ones (``id DESC``);
    - the owner's username: one part per owner in username order (by id within), then
      the unowned accounts.

    One grouped count gives the part sizes (and the total the paginator needs); a page
    is then one query over the parts it spans, ordered by part rank, so only the rows of
    those parts are sorted. Orders an index serves as they are read as one part.

    ``cached_for`` (seconds, with ``cache_key`` naming the rows of ``accounts``) keeps
    the part sizes in the cache: for the list of every account, whose exact count reads
    the whole table on every page. Within that time the total may miss accounts created
    or deleted since, and a page next to a part boundary may repeat or skip one of them.
    """

    def __init__(
        self,
        accounts: QuerySet[Account],
        *,
        column: str,
        descending: bool,
        cache_key: str = "",
        cached_for: int = 0,
    ) -> None:
        self._accounts = accounts.order_by()
        self._column = column
        self._descending = descending
        self._parts: list[tuple[Q, int]] | None = None
        self._cache_key = f"customers:account-pages:{cache_key}:{column}:{descending}"
        self._cached_for = cached_for if cache_key else 0

    def _within(self) -> list:
        """The order inside every part (the rank orders the parts)."""
        if self._column == OWNER_USERNAME:
            return [F("id").desc() if self._descending else F("id").asc()]
        if self._descending:
            return [F(self._column).desc(), F("id").desc()]
        return [F(self._column).asc(nulls_last=True), F("id").asc()]

    def _split(self) -> bool:
        if self._column == OWNER_USERNAME:
            return True
        return self._descending and _sort_nullable(self._column)

    def parts(self) -> list[tuple[Q, int]]:
        """``(filter, size)`` of each part, in order (one or two queries, once; none
        while cached)."""
        if self._parts is None and self._cached_for:
            self._parts = cache.get(self._cache_key)
            if self._parts is None:
                self._parts = self._counted_parts()
                cache.set(self._cache_key, self._parts, self._cached_for)
        if self._parts is None:
            self._parts = self._counted_parts()
        return self._parts

    def _counted_parts(self) -> list[tuple[Q, int]]:
        if not self._split():
            return [(Q(), self._accounts.count())]
        if self._column == OWNER_USERNAME:
            sizes = dict(self._accounts.values_list("owner_id").annotate(n=Count("*")).order_by())
            # The database's collation orders the usernames, as ORDER BY username would.
            owners = list(
                get_user_model()
                .objects.filter(pk__in=[pk for pk in sizes if pk is not None])
                .order_by("-username" if self._descending else "username")
                .values_list("pk", flat=True)
            )
            parts = [(Q(owner_id=pk), sizes[pk]) for pk in owners]
            if None in sizes:
                parts.append((Q(owner__isnull=True), sizes[None]))
            return parts
        counts = self._accounts.aggregate(total=Count("*"), known=Count(self._column))
        return [
            (Q(**{f"{self._column}__isnull": False}), counts["known"]),
            (Q(**{f"{self._column}__isnull": True}), counts["total"] - counts["known"]),
        ]

    def count(self) -> int:
        return sum(size for _, size in self.parts())

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key: slice) -> list[Account]:
        if not isinstance(key, slice) or key.step is not None:
            raise TypeError("AccountPages supports plain slices only.")
        start, stop = key.start or 0, key.stop if key.stop is not None else self.count()
        spanned: list[tuple[int, Q]] = []
        first_start = 0
        offset = 0
        for rank, (condition, size) in enumerate(self.parts()):
            if offset < stop and offset + size > start and size:
                if not spanned:
                    first_start = offset
                spanned.append((rank, condition))
            offset += size
        if not spanned:
            return []
        if len(spanned) == 1:
            rows, order = self._accounts.filter(spanned[0][1]), self._within()
        else:
            by_rank = Case(
                *(When(condition, then=Value(rank)) for rank, condition in spanned),
                output_field=IntegerField(),
            )
            rows = self._accounts.filter(reduce(operator.or_, (c for _, c in spanned)))
            order = [by_rank, *self._within()]
        # The page's ids first (an index scan past the offset, no join), then only those
        # rows with their owners: joining every skipped row to its owner cost 10 ms on
        # page 150 of 100k accounts.
        page = rows.order_by(*order).values("id")[start - first_start : stop - first_start]
        return list(self._accounts.filter(id__in=page).order_by(*order))


# The active CSMs and managers, for the pickers of nearly every page: one cached list,
# forgotten whenever a user, a group or a user's groups change (customers.apps).
PEOPLE_KEY = "customers:people"


def people() -> list[tuple[int, str, str, bool]]:
    """``(id, username, full name or username, is a CSM)`` of every active user in the
    CSMs or Managers group, by username."""

    def load() -> list[tuple[int, str, str, bool]]:
        rows = (
            User.objects.filter(is_active=True, groups__name__in=[CSMS, MANAGERS])
            .values_list("id", "username", "first_name", "last_name", "groups__name")
            .order_by("username", "id")
        )
        result: dict[int, tuple[int, str, str, bool]] = {}
        for pk, username, first, last, group in rows:
            name = f"{first} {last}".strip() or username
            was_csm = pk in result and result[pk][3]
            result[pk] = (pk, username, name, was_csm or group == CSMS)
        return list(result.values())

    return remembered(PEOPLE_KEY, load)


def csm_usernames() -> list[str]:
    """Usernames of the active CSMs, for pickers."""
    return [username for _, username, _, is_csm in people() if is_csm]


def picklist_list() -> QuerySet[Picklist]:
    """The picklists with their values in order (two queries)."""
    values = PicklistValue.objects.order_by("order", "value")
    return Picklist.objects.order_by("field").prefetch_related(Prefetch("values", queryset=values))


def product_list() -> QuerySet[Product]:
    return Product.objects.order_by("code")


def account_products(*, account: Account) -> QuerySet[ContractItem]:
    """The line items of the account's active contracts, with their products."""
    return (
        ContractItem.objects.filter(
            contract__account=account, contract__status=ContractStatus.ACTIVE
        )
        .select_related("product", "contract")
        .order_by("product__family", "product__code", "contract__end_date")
    )


# Every picklist's values, read by the filter bars, the account forms and each account
# label on a page: one cached list, forgotten whenever a value or a picklist is written
# (customers.apps; the bulk writers call ``reference.forget``).
PICKLIST_VALUES_KEY = "customers:picklist-values"


def picklist_values() -> list[tuple[str, str, str, bool]]:
    """``(field, value, label or value, is_active)`` of every picklist value, each
    picklist's in order."""
    return remembered(
        PICKLIST_VALUES_KEY,
        lambda: [
            (field, value, label or value, is_active)
            for field, value, label, is_active in PicklistValue.objects.order_by(
                "picklist__field", "order", "value"
            ).values_list("picklist__field", "value", "label", "is_active")
        ],
    )


def picklist_options(field: str, *, active_only: bool = False) -> list[tuple[str, str]]:
    """``(value, label)`` of a picklist's values in order, for choice widgets and filters
    (filters take inactive values too: accounts may still hold them)."""
    return [
        (value, label)
        for of, value, label, is_active in picklist_values()
        if of == field and (is_active or not active_only)
    ]

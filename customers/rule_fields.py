"""The rule fields the customers app owns (DESIGN 3.2, 3.4, 10): the account's columns (the
picklist fields with their choices read from the picklists), the values derived from its
contracts (arr, mrr, renewal_date), its owner (csm), the seat utilization, the products on
its active contracts (``products``, ``product_count``), and the declared custom attributes
(``traits.KEY``).

Registered once at start-up by ``CustomersConfig.ready()``; the rule engine reads them
from its registry and never imports this app. See docs/rule-fields.md.
"""

from datetime import date
from functools import partial

from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from rules import (
    AttributeFamily,
    Column,
    Computed,
    ComputedSet,
    Ratio,
    RuleField,
    register_family,
    register_field,
    register_subject,
)
from rules.vocabulary import BOOLEAN, CHOICE, DATE, INTEGER, MONEY, NUMBER, SET, TEXT

from .models import MONTHS_PER_YEAR, Account, ContractItem, ContractStatus, Product
from .picklists import picklist_choices

APP = "customers"


def _column(name: str, kind: str, label: str, choices: tuple[str, ...] = ()) -> RuleField:
    return RuleField(name, kind, Column(name), label=label, choices=choices, app=APP)


def _picklist(name: str, label: str) -> RuleField:
    """A picklist field: its choices are read from the picklist each time a rule is
    checked, so a value added in the admin is usable in rules at once."""
    return _column(name, CHOICE, label, choices=partial(picklist_choices, name))


# --- products on active contracts (DESIGN 10) -----------------------------------------------


def _active_items() -> QuerySet[ContractItem]:
    return ContractItem.objects.filter(contract__status=ContractStatus.ACTIVE).order_by()


def _product_members(today: date) -> QuerySet[ContractItem]:
    """(account, product code) pairs of the active contracts' line items."""
    return _active_items().annotate(subject=F("contract__account_id"), element=F("product__code"))


# What a caller prefetches to read ``products`` / ``product_count`` of many accounts without
# a query per account: ``Account.objects.prefetch_related(PRODUCTS_PREFETCH)``.
PRODUCTS_PREFETCH = "contracts__items__product"


def _products_read(account: object, today: date) -> frozenset[str]:
    if "contracts" in getattr(account, "_prefetched_objects_cache", {}):
        return frozenset(
            item.product.code
            for contract in account.contracts.all()  # type: ignore[attr-defined]
            if contract.status == ContractStatus.ACTIVE
            for item in contract.items.all()
        )
    pk = getattr(account, "pk", None)
    if pk is None:
        return frozenset()
    codes = _active_items().filter(contract__account_id=pk).values_list("product__code", flat=True)
    return frozenset(codes)


def _product_count_expression(today: date) -> Coalesce:
    per_account = (
        _active_items()
        .filter(contract__account_id=OuterRef("pk"))
        .values("contract__account_id")
        .annotate(count=Count("product", distinct=True))
        .values("count")[:1]
    )
    return Coalesce(Subquery(per_account), Value(0))


def _product_count_read(account: object, today: date) -> int:
    return len(_products_read(account, today))


PRODUCT_FIELDS: tuple[RuleField, ...] = (
    RuleField(
        "products",
        SET,
        ComputedSet(members=_product_members, read_value=_products_read),
        label="Products (codes on active contracts)",
        choices=lambda: Product.objects.values_list("code", flat=True),
        app=APP,
    ),
    RuleField(
        "product_count",
        INTEGER,
        Computed(
            alias="rule_product_count",
            expression=_product_count_expression,
            read_value=_product_count_read,
        ),
        label="Number of products (on active contracts)",
        app=APP,
    ),
)


# In the order of the design's table, which is the order the rule editor lists them.
ACCOUNT_FIELDS: tuple[RuleField, ...] = (
    _column("name", TEXT, "Name"),
    _column("domain", TEXT, "Domain"),
    _column("country", TEXT, "Country"),
    _picklist("industry", "Industry"),
    _picklist("region", "Region"),
    _picklist("business_model", "Business model"),
    _picklist("plan", "Plan"),
    _picklist("lifecycle_stage", "Lifecycle stage"),
    _column("employees", INTEGER, "Employees"),
    _column("health_score", INTEGER, "Health score"),
    _column("active_users", INTEGER, "Active users"),
    _column("licensed_seats", INTEGER, "Licensed seats"),
    _column("open_tickets", INTEGER, "Open tickets"),
    _column("cost_to_serve", MONEY, "Cost to serve"),
    _column("acquisition_cost", MONEY, "Acquisition cost"),
    # arr and renewal_date are derived columns, maintained from the contracts.
    _column("arr", MONEY, "ARR"),
    RuleField(
        "mrr", MONEY, Column("arr", divide_by=MONTHS_PER_YEAR), label="MRR (ARR / 12)", app=APP
    ),
    _column("renewal_date", DATE, "Renewal date"),
    _column("customer_since", DATE, "Customer since"),
    _column("churned_on", DATE, "Churned on"),
    _column("last_seen_at", DATE, "Last seen"),
    _column("has_champion", BOOLEAN, "Has a champion"),
    _column("referenceable", BOOLEAN, "Referenceable"),
    RuleField("csm", TEXT, Column("owner__username"), label="CSM (username)", app=APP),
    RuleField(
        "seat_utilization",
        NUMBER,
        Ratio("active_users", "licensed_seats"),
        label="Seat utilization (active users / seats)",
        app=APP,
    ),
)

TRAITS = AttributeFamily(column="traits", app=APP)


def register_rule_fields() -> None:
    """Register the account subject, its fields and the ``traits.`` family."""
    register_subject("account", Account.objects.all)
    register_field(*ACCOUNT_FIELDS, *PRODUCT_FIELDS)
    register_family(TRAITS)

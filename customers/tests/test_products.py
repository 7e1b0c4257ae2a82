"""Products (DESIGN 10): the catalogue API, contract line items through the contracts API,
and the rule fields ``products`` / ``product_count``, whose SQL must select exactly the
accounts the in-memory evaluator selects (hypothesis)."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import (
    Account,
    Contract,
    ContractItem,
    ContractStatus,
    PendingEvaluation,
    Product,
)
from customers.rule_fields import PRODUCTS_PREFETCH
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory, ContractFactory
from rules import (
    RuleValidationError,
    account_rule_values,
    evaluate_rule,
    explain_rule,
    rule_queryset,
    validate_rule,
)
from rules.text import rule_text

TODAY = date(2026, 11, 22)
CODES = ["CRM", "CPQ", "BI", "API"]


def product(code: str, family: str = "Core") -> Product:
    return Product.objects.get_or_create(code=code, defaults={"name": code, "family": family})[0]


# --- catalogue and line items through the API ---------------------------------------------------


@pytest.mark.django_db
def test_products_api_lists_and_creates(manager, csm):
    client = api_client(manager)
    created = client.post(
        "/api/products/", {"code": "CRM", "name": "CRM Suite", "family": "Sales"}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert client.post("/api/products/", {"code": "CRM", "name": "Again"}).status_code == 400
    listed = api_client(csm).get("/api/products/")
    assert listed.status_code == 200
    assert listed.json()["results"] == [
        {"id": created.json()["id"], "code": "CRM", "name": "CRM Suite", "family": "Sales"}
    ]
    assert api_client(csm).post("/api/products/", {"code": "X", "name": "X"}).status_code == 403


@pytest.mark.django_db
def test_contracts_api_accepts_line_items_and_marks_the_account(manager):
    product("CRM")
    product("BI", family="Analytics")
    account = AccountFactory()
    PendingEvaluation.objects.all().delete()
    body = {
        "account": account.pk,
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "arr": "10000.00",
        "items": [
            {"product": "CRM", "quantity": 25, "arr": "7000.00"},
            {"product": "BI", "quantity": 1, "arr": "3000.00"},
        ],
    }
    response = api_client(manager).post("/api/contracts/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["items"] == [
        {"product": "CRM", "quantity": 25, "arr": "7000.00"},
        {"product": "BI", "quantity": 1, "arr": "3000.00"},
    ]
    assert PendingEvaluation.objects.filter(account=account).exists()
    values = account_rule_values(Account.objects.get(pk=account.pk), today=TODAY)
    assert values["products"] == frozenset({"CRM", "BI"}) and values["product_count"] == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("items", "path"),
    [
        ([{"product": "NOPE", "quantity": 1, "arr": "1"}], "items"),
        ([{"product": "CRM", "quantity": 0, "arr": "1"}], "items"),
        ([{"product": "CRM", "arr": "-1"}], "items"),
        (
            [{"product": "CRM", "arr": "1"}, {"product": "CRM", "arr": "1"}],
            "items[1].product",
        ),
        ([{"product": "CRM", "arr": "10000.01"}], "items"),
    ],
)
def test_contract_with_bad_items_is_a_400_and_writes_nothing(manager, items, path):
    product("CRM")
    account = AccountFactory()
    body = {
        "account": account.pk,
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "arr": "10000.00",
        "items": items,
    }
    response = api_client(manager).post("/api/contracts/", body, format="json")
    assert response.status_code == 400
    assert path in response.json()
    assert not Contract.objects.exists() and not ContractItem.objects.exists()


@pytest.mark.django_db
def test_patch_replaces_the_items(manager):
    product("CRM")
    product("BI")
    contract = ContractFactory(arr=Decimal("5000"))
    ContractItem.objects.create(contract=contract, product=product("CRM"), arr=Decimal("1"))
    response = api_client(manager).patch(
        f"/api/contracts/{contract.pk}/", {"items": [{"product": "BI"}]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert list(contract.items.values_list("product__code", "quantity")) == [("BI", 1)]


# --- the rule fields --------------------------------------------------------------------------


@pytest.mark.django_db
def test_product_rules_validate_codes_and_render_as_text():
    product("CRM")
    validate_rule({"field": "products", "op": "contains_all", "value": ["CRM"]})
    with pytest.raises(RuleValidationError) as caught:
        validate_rule({"field": "products", "op": "contains", "value": "NOPE"})
    assert caught.value.errors[0].path == "value"
    with pytest.raises(RuleValidationError):
        validate_rule({"field": "products", "op": "eq", "value": "CRM"})
    rule = {"field": "products", "op": "contains_any", "value": ["CRM", "BI"]}
    assert rule_text(rule) == "products contains any of [CRM, BI]"


@pytest.mark.django_db
def test_explain_shows_the_products_of_active_contracts_only():
    account = AccountFactory()
    active = ContractFactory(account=account, arr=Decimal("100"))
    ended = ContractFactory(account=account, arr=Decimal("100"), status=ContractStatus.CHURNED)
    ContractItem.objects.create(contract=active, product=product("CRM"))
    ContractItem.objects.create(contract=ended, product=product("BI"))
    rule = {"field": "products", "op": "not_contains", "value": "BI"}
    explained = explain_rule(rule, account_rule_values(account, today=TODAY), today=TODAY)
    assert explained["matched"] is True and explained["actual"] == ["CRM"]


PRODUCT_SETS = st.lists(
    st.tuples(st.sets(st.sampled_from(CODES), max_size=3), st.sampled_from(list(ContractStatus))),
    max_size=2,
)
CODE_LISTS = st.lists(st.sampled_from(CODES), min_size=1, max_size=3)
LEAVES = st.one_of(
    st.just({"field": "products", "op": "is_null"}),
    st.sampled_from(CODES).map(lambda c: {"field": "products", "op": "contains", "value": c}),
    st.sampled_from(CODES).map(lambda c: {"field": "products", "op": "not_contains", "value": c}),
    CODE_LISTS.map(lambda v: {"field": "products", "op": "contains_any", "value": v}),
    CODE_LISTS.map(lambda v: {"field": "products", "op": "contains_all", "value": v}),
    st.tuples(st.sampled_from(["eq", "gte", "lt"]), st.integers(0, 4)).map(
        lambda t: {"field": "product_count", "op": t[0], "value": t[1]}
    ),
)
RULES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda c: {"all": c}),
        st.lists(children, max_size=3).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=5,
)


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    accounts=st.lists(PRODUCT_SETS, min_size=6, max_size=6),
    rules=st.lists(RULES, min_size=5, max_size=5),
)
def test_product_rules_sql_and_evaluator_select_the_same_accounts(accounts, rules):
    # Given accounts with contracts (active or not) selling sets of products
    Account.objects.all().delete()
    products = {code: product(code) for code in CODES}
    for index, contracts in enumerate(accounts):
        account = Account.objects.create(name=f"A{index}", external_id=f"h-{index}")
        for codes, status in contracts:
            contract = Contract.objects.create(
                account=account,
                start_date=date(2026, 1, 1),
                end_date=date(2026, 12, 31),
                arr=Decimal("100"),
                status=status,
            )
            ContractItem.objects.bulk_create(
                ContractItem(contract=contract, product=products[code]) for code in sorted(codes)
            )
    stored = Account.objects.prefetch_related(PRODUCTS_PREFETCH)
    values = {account.id: account_rule_values(account, today=TODAY) for account in stored}
    for rule in rules:
        # When the rule runs as SQL and in memory
        selected = set(rule_queryset(rule, today=TODAY).values_list("id", flat=True))
        evaluated = {
            account_id
            for account_id, account_values in values.items()
            if evaluate_rule(rule, account_values, today=TODAY)
        }
        # Then both select exactly the same accounts
        assert selected == evaluated, rule

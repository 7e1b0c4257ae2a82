"""The compiler on the real database (PostgreSQL with DATABASE_URL, else SQLite): each
operator selects the accounts the evaluator selects, nulls behave as DESIGN 3.3 says,
malformed traits never break the query, and ranking orders as documented."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from customers.models import Account
from customers.rule_fields import PRODUCTS_PREFETCH
from customers.tests.factories import UserFactory
from rules import (
    AttributeSpec,
    RuleValidationError,
    account_rule_values,
    compile_rule,
    evaluate_rule,
    rank_order_by,
    rule_queryset,
)

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 22)
ATTRIBUTES = {
    "tier": AttributeSpec("tier", "integer"),
    "score": AttributeSpec("score", "number"),
    "budget": AttributeSpec("budget", "money"),
    "since": AttributeSpec("since", "date"),
    "vip": AttributeSpec("vip", "boolean"),
    "color": AttributeSpec("color", "choice", ("red", "blue")),
    "note": AttributeSpec("note", "text"),
    "risk-level": AttributeSpec("risk-level", "integer"),
}


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


@pytest.fixture
def accounts(db) -> dict[str, Account]:
    alice = UserFactory(username="alice")
    created = [
        Account(
            name="Acme Corp",
            external_id="acme",
            domain="acme.io",
            plan="enterprise",
            region="NA",
            employees=500,
            health_score=80,
            active_users=7,
            licensed_seats=10,
            cost_to_serve=Decimal("1000.00"),
            arr=Decimal("120000.12"),
            renewal_date=days(30),
            customer_since=date(2020, 1, 1),
            has_champion=True,
            owner=alice,
            traits={
                "tier": 3,
                "score": 4.5,
                "budget": "2500.50",
                "since": "2024-02-29",
                "vip": True,
                "color": "red",
                "note": "Gold 100%",
                "risk-level": 2,
            },
        ),
        Account(
            name="beta ltd",
            external_id="beta",
            domain=None,
            plan="pro",
            region="EMEA",
            employees=None,
            active_users=3,
            licensed_seats=0,
            arr=Decimal("100000.00"),
            renewal_date=days(31),
            traits={
                "tier": "3",
                "score": "abc",
                "budget": True,
                "since": "2026-02-30",
                "vip": "true",
                "color": 5,
                "note": 7,
                "risk-level": 2.5,
            },
        ),
        Account(
            name="Gamma",
            external_id="gamma",
            plan=None,
            region=None,
            employees=10,
            active_users=0,
            licensed_seats=None,
            arr=Decimal("0"),
            renewal_date=None,
            last_seen_at=days(-40),
            traits={"score": "-1.25", "since": "2026-11-22\n", "vip": False, "tier": 10**19},
        ),
        Account(
            name="Delta_x",
            external_id="delta",
            plan="free",
            employees=0,
            active_users=0,
            licensed_seats=3,
            arr=Decimal("99999.99"),
            renewal_date=days(-1),
            traits=[],
        ),
    ]
    Account.objects.bulk_create(created)
    return {account.external_id: account for account in Account.objects.all()}


def matching(rule: dict, attributes=ATTRIBUTES) -> set[str]:
    return set(
        rule_queryset(rule, today=TODAY, attributes=attributes).values_list(
            "external_id", flat=True
        )
    )


def evaluated(rule: dict, accounts: dict[str, Account], attributes=ATTRIBUTES) -> set[str]:
    return {
        key
        for key, account in accounts.items()
        if evaluate_rule(
            rule,
            account_rule_values(account, attributes=attributes),
            today=TODAY,
            attributes=attributes,
        )
    }


def leaf(field: str, op: str, value: object = None) -> dict:
    node = {"field": field, "op": op}
    if op not in ("is_null", "is_not_null"):
        node["value"] = value
    return node


CASES = [
    (leaf("name", "eq", "Acme Corp"), {"acme"}),
    (leaf("name", "eq", "acme corp"), set()),
    (leaf("name", "ne", "Acme Corp"), {"beta", "gamma", "delta"}),
    (leaf("name", "in", ["Gamma", "beta ltd"]), {"beta", "gamma"}),
    (leaf("name", "not_in", ["Gamma"]), {"acme", "beta", "delta"}),
    (leaf("name", "contains", "ACME"), {"acme"}),
    (leaf("name", "contains", "_"), {"delta"}),
    (leaf("name", "starts_with", "BETA"), {"beta"}),
    (leaf("domain", "ne", "acme.io"), set()),
    (leaf("domain", "is_null"), {"beta", "gamma", "delta"}),
    ({"not": leaf("domain", "eq", "acme.io")}, {"beta", "gamma", "delta"}),
    (leaf("plan", "ne", "pro"), {"acme", "delta"}),
    (leaf("plan", "not_in", ["pro", "free"]), {"acme"}),
    ({"not": leaf("plan", "in", ["pro"])}, {"acme", "gamma", "delta"}),
    (leaf("region", "is_not_null"), {"acme", "beta"}),
    (leaf("employees", "gt", 10), {"acme"}),
    (leaf("employees", "gte", 10), {"acme", "gamma"}),
    (leaf("employees", "lt", 10), {"delta"}),
    (leaf("employees", "between", [0, 10]), {"gamma", "delta"}),
    (leaf("employees", "in", [0, 500]), {"acme", "delta"}),
    (leaf("employees", "ne", 500), {"gamma", "delta"}),
    ({"not": leaf("employees", "gt", 10)}, {"beta", "gamma", "delta"}),
    (leaf("employees", "gt", -5), {"acme", "gamma", "delta"}),
    (leaf("health_score", "lt", 40000), {"acme"}),
    ({"not": leaf("health_score", "gt", 10**15)}, {"acme", "beta", "gamma", "delta"}),
    (leaf("arr", "gte", 100000), {"acme", "beta"}),
    (leaf("arr", "gt", 100000), {"acme"}),
    (leaf("arr", "eq", 120000.12), {"acme"}),
    (leaf("arr", "between", [99999.99, 100000]), {"beta", "delta"}),
    (leaf("cost_to_serve", "lte", 1000), {"acme"}),
    (leaf("mrr", "eq", 10000.01), {"acme"}),
    (leaf("mrr", "gte", 8333.333333), {"acme", "beta"}),
    (leaf("mrr", "lt", 8333.333333), {"gamma", "delta"}),
    (leaf("mrr", "in", [0, 10000.01]), {"acme", "gamma"}),
    (leaf("seat_utilization", "eq", 0.7), {"acme"}),
    (leaf("seat_utilization", "gte", 0.7), {"acme"}),
    (leaf("seat_utilization", "lt", 0.7), {"delta"}),
    (leaf("seat_utilization", "is_null"), {"beta", "gamma"}),
    ({"not": leaf("seat_utilization", "gt", 0.5)}, {"beta", "gamma", "delta"}),
    (leaf("seat_utilization", "in", [0, 0.7]), {"acme", "delta"}),
    (leaf("seat_utilization", "between", [0, 0.7]), {"acme", "delta"}),
    (leaf("renewal_date", "within_next_days", 30), {"acme"}),
    (leaf("renewal_date", "within_next_days", 31), {"acme", "beta"}),
    (leaf("renewal_date", "more_than_days_ahead", 30), {"beta"}),
    (leaf("renewal_date", "within_last_days", 1), {"delta"}),
    (leaf("renewal_date", "before", TODAY.isoformat()), {"delta"}),
    (leaf("renewal_date", "on_or_after", days(30).isoformat()), {"acme", "beta"}),
    (
        leaf("renewal_date", "between", [days(-1).isoformat(), days(30).isoformat()]),
        {"acme", "delta"},
    ),
    (leaf("last_seen_at", "more_than_days_ago", 39), {"gamma"}),
    (leaf("last_seen_at", "more_than_days_ago", 40), set()),
    ({"not": leaf("renewal_date", "within_next_days", 30)}, {"beta", "gamma", "delta"}),
    (leaf("has_champion", "eq", True), {"acme"}),
    (leaf("has_champion", "eq", False), {"beta", "gamma", "delta"}),
    (leaf("csm", "eq", "alice"), {"acme"}),
    (leaf("csm", "ne", "alice"), set()),
    (leaf("csm", "is_null"), {"beta", "gamma", "delta"}),
    ({"not": leaf("csm", "eq", "alice")}, {"beta", "gamma", "delta"}),
    ({"any": [leaf("csm", "starts_with", "AL"), leaf("plan", "eq", "free")]}, {"acme", "delta"}),
    (leaf("traits.tier", "eq", 3), {"acme"}),
    (leaf("traits.tier", "is_null"), {"beta", "gamma", "delta"}),
    (leaf("traits.risk-level", "gte", 2), {"acme"}),
    (leaf("traits.score", "gt", 0), {"acme"}),
    (leaf("traits.score", "lt", 0), {"gamma"}),
    (leaf("traits.score", "eq", -1.25), {"gamma"}),
    (leaf("traits.budget", "eq", 2500.5), {"acme"}),
    (leaf("traits.budget", "is_null"), {"beta", "gamma", "delta"}),
    (leaf("traits.since", "eq", "2024-02-29"), {"acme"}),
    (leaf("traits.since", "more_than_days_ago", 30), {"acme"}),
    (leaf("traits.since", "is_null"), {"beta", "gamma", "delta"}),
    (leaf("traits.vip", "eq", True), {"acme"}),
    (leaf("traits.vip", "eq", False), {"gamma"}),
    ({"not": leaf("traits.vip", "eq", True)}, {"beta", "gamma", "delta"}),
    (leaf("traits.color", "eq", "red"), {"acme"}),
    (leaf("traits.color", "ne", "blue"), {"acme"}),
    (leaf("traits.note", "contains", "gold 100%"), {"acme"}),
    (leaf("traits.note", "contains", "0%"), {"acme"}),
    (leaf("traits.note", "starts_with", "%"), set()),
    ({"all": []}, {"acme", "beta", "gamma", "delta"}),
    ({"any": []}, set()),
    ({"not": {"all": []}}, set()),
    ({"not": {"any": []}}, {"acme", "beta", "gamma", "delta"}),
    (
        {
            "all": [
                leaf("arr", "gte", 50000),
                {"any": [leaf("plan", "eq", "enterprise"), {"not": leaf("employees", "gt", 1)}]},
            ]
        },
        {"acme", "beta", "delta"},
    ),
]


@pytest.mark.parametrize(("rule", "expected"), CASES, ids=lambda case: str(case)[:60])
def test_compiled_rule_selects_the_expected_accounts(accounts, rule, expected):
    # Given the four accounts, when the rule runs as SQL, then it selects the expected
    # accounts, and the in-memory evaluator agrees
    assert matching(rule) == expected
    assert evaluated(rule, accounts) == expected


def test_a_rule_is_one_query(accounts):
    rule = {
        "all": [
            leaf("csm", "ne", "bob"),
            leaf("traits.score", "gt", 1),
            leaf("seat_utilization", "gte", 0.5),
            leaf("mrr", "gt", 100),
        ]
    }
    with CaptureQueriesContext(connection) as queries:
        ids = list(
            rule_queryset(rule, today=TODAY, attributes=ATTRIBUTES).values_list("id", flat=True)
        )
    assert len(queries) == 1
    assert ids == [accounts["acme"].id]


def test_compile_rule_returns_expressions_and_a_q_that_compose(accounts):
    # Given the compiled parts of a rule
    rule = {"all": [leaf("csm", "eq", "alice"), leaf("traits.tier", "gte", 1)]}
    annotations, condition = compile_rule(rule, today=TODAY, attributes=ATTRIBUTES)
    assert isinstance(condition, Q)
    assert list(annotations) == ["rule_csm"]
    # When composed by hand with another filter, then both apply
    queryset = Account.objects.alias(**annotations).filter(condition, region="NA")
    assert list(queryset.values_list("external_id", flat=True)) == ["acme"]
    assert not Account.objects.alias(**annotations).filter(condition, region="EMEA").exists()
    # And rule_queryset narrows a given base
    base = Account.objects.filter(region="EMEA")
    assert not rule_queryset(
        leaf("traits.tier", "gte", 1), today=TODAY, attributes=ATTRIBUTES, base=base
    ).exists()


def test_two_rules_on_one_queryset_share_trait_expressions(accounts):
    first = rule_queryset(leaf("traits.tier", "gte", 1), today=TODAY, attributes=ATTRIBUTES)
    both = rule_queryset(
        leaf("traits.tier", "lte", 3), today=TODAY, attributes=ATTRIBUTES, base=first
    )
    assert set(both.values_list("external_id", flat=True)) == {"acme"}


def test_sql_renders_for_out_of_range_integers(accounts):
    # Out-of-range integers must not become Django's EmptyResultSet (callers render SQL)
    queryset = rule_queryset(leaf("health_score", "gt", 10**15), today=TODAY)
    sql, params = queryset.query.sql_with_params()
    assert "WHERE" in sql
    assert not queryset.exists()


def test_values_reach_sql_only_as_parameters(accounts):
    hostile = "x'); DROP TABLE customers_account; --"
    assert matching(leaf("name", "eq", hostile)) == set()
    assert matching(leaf("name", "contains", hostile)) == set()
    assert Account.objects.count() == 4


def test_invalid_rules_never_reach_sql(accounts):
    for rule in (
        {"field": "name__startswith", "op": "eq", "value": "A"},
        {"field": "traits.tier", "op": "regex", "value": ".*"},
        {"field": "arr", "op": "gte", "value": "1; DROP"},
    ):
        with pytest.raises(RuleValidationError):
            rule_queryset(rule, today=TODAY, attributes=ATTRIBUTES)


def test_traits_need_their_declaration(accounts):
    with pytest.raises(RuleValidationError):
        rule_queryset(leaf("traits.tier", "eq", 3), today=TODAY)


def test_relative_dates_use_the_given_today(accounts):
    rule = leaf("renewal_date", "within_next_days", 0)
    assert set(rule_queryset(rule, today=days(30)).values_list("external_id", flat=True)) == {
        "acme"
    }
    assert set(rule_queryset(rule, today=days(31)).values_list("external_id", flat=True)) == {
        "beta"
    }


def ranked(rank_by: str, **kwargs) -> list[str]:
    return list(
        Account.objects.order_by(*rank_order_by(rank_by, **kwargs)).values_list(
            "external_id", flat=True
        )
    )


def test_rank_order_is_descending_nulls_last_ties_by_id(accounts):
    assert ranked("arr") == ["acme", "beta", "delta", "gamma"]
    assert ranked("mrr") == ["acme", "beta", "delta", "gamma"]
    # employees: 500, 10, 0, null
    assert ranked("employees") == ["acme", "gamma", "delta", "beta"]
    # renewal dates: +31, +30, -1, null
    assert ranked("renewal_date") == ["beta", "acme", "delta", "gamma"]
    # seat utilization: 0.7, 0 (delta), null (beta: 0 seats), null (gamma): ties by id
    assert ranked("seat_utilization") == ["acme", "delta", "beta", "gamma"]
    # active_users 7, 3, 0 (gamma), 0 (delta): the tie goes to the lower id
    assert ranked("active_users") == ["acme", "beta", "gamma", "delta"]
    # traits.score: 4.5, -1.25, then the malformed "abc" and the missing one as nulls
    assert ranked("traits.score", attributes=ATTRIBUTES) == ["acme", "gamma", "beta", "delta"]


def test_rank_by_must_be_rankable(accounts):
    for rank_by in ("name", "traits.note", "traits.nope", "plan"):
        with pytest.raises(RuleValidationError) as caught:
            rank_order_by(rank_by, attributes=ATTRIBUTES)
        assert caught.value.errors[0].path == "rank_by"


def test_account_values_for_many_accounts_take_one_query(accounts):
    # Given accounts loaded with their owner and their products (prefetched: the contracts,
    # and their items only when there are contracts; these accounts have none), when their
    # rule values are built, then no query is made per account
    with CaptureQueriesContext(connection) as queries:
        values = [
            account_rule_values(account, attributes=ATTRIBUTES)
            for account in Account.objects.select_related("owner").prefetch_related(
                PRODUCTS_PREFETCH
            )
        ]
    assert len(queries) == 2
    assert {value["csm"] for value in values} == {"alice", None}

"""Compiler vs evaluator agreement (hypothesis): for random rules and random accounts
(nulls, boundary values, dates at today±N, well-formed and malformed traits of every type),
the SQL selects exactly the accounts the in-memory evaluator matches."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Account
from rules import (
    AttributeSpec,
    RuleValidationError,
    account_rule_values,
    evaluate_rule,
    rule_queryset,
    validate_rule,
)

from .fixed_choices import FIXED_CHOICES

TODAY = date(2026, 11, 22)
ACCOUNTS_PER_EXAMPLE = 30
RULES_PER_EXAMPLE = 6

ATTRIBUTES = {
    "note": AttributeSpec("note", "text"),
    "color": AttributeSpec("color", "choice", ("red", "blue")),
    "tier": AttributeSpec("tier", "integer"),
    "score": AttributeSpec("score", "number"),
    "budget-usd": AttributeSpec("budget-usd", "money"),
    "since": AttributeSpec("since", "date"),
    "vip": AttributeSpec("vip", "boolean"),
}

OFFSETS = [-400, -31, -30, -29, -1, 0, 1, 29, 30, 31, 400]
DATES = [TODAY + timedelta(days=n) for n in OFFSETS]
DAY_COUNTS = [0, 1, 29, 30, 31, 365]
TEXTS = ["Acme", "acme", "ACME Corp", "Beta", "a%b", "a_b", "x\\y", "zürich", "", "b"]
TEXT_OPERANDS = [*TEXTS, "a", "AC", "%", "_", "\\", "ü", "corp", "z"]
MONEY = [Decimal(v) for v in ("0", "0.01", "12", "99.99", "100", "100.01", "1200.12", "120000.12")]
MONEY_OPERANDS = [0, 0.01, 1, 12, 99.99, 100, 100.01, 1200.12, 120000.12, 10000.01, -1]
MRR_OPERANDS = [0, 1, 8.333333, 8.333334, 8.33, 100.01, 10000.01, 10000, 0.000833]
RATIOS = [0, 0.1, 0.3, 0.333333, 0.5, 0.7, 1, 1.5, 2]
INTS = [0, 1, 3, 9, 10, 11, 100, 2147483647]
INT_OPERANDS = [0, 1, 3, 9, 10, 11, 100, -5, 2147483647, 10**15]


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


# --- accounts ------------------------------------------------------------------------------

trait_values = {
    "note": st.sampled_from(["gold", "Gold", "silver", "", 5, True, None, ["x"]]),
    "color": st.sampled_from(["red", "blue", "green", 1, None]),
    "tier": st.sampled_from([0, 3, 10, -5, 3.0, "3", True, None, 10**19, 2.5]),
    "score": st.sampled_from(
        [0, 1.5, -1.25, 0.7, "1.50", "0.70", "abc", "1e5", " 1", "1.5\n", True, None, 3, 1e-7]
    ),
    "budget-usd": st.sampled_from([0, 99.99, "100.00", "100.01", 120000.12, "x", False, None]),
    "since": st.one_of(
        st.sampled_from(DATES).map(date.isoformat),
        st.sampled_from(["2026-02-30", "2026-11-22\n", "20261122", "2024-02-29", 5, None, ""]),
    ),
    "vip": st.sampled_from([True, False, "true", 1, 0, None]),
}


@st.composite
def traits(draw: st.DrawFn) -> dict:
    result = {}
    for key, values in trait_values.items():
        if draw(st.booleans()):
            result[key] = draw(values)
    return result


accounts = st.fixed_dictionaries(
    {
        "name": st.sampled_from(TEXTS),
        "domain": maybe(st.sampled_from(TEXTS)),
        "country": maybe(st.sampled_from(["US", "us", "DE"])),
        "industry": maybe(st.sampled_from(FIXED_CHOICES["industry"][:3])),
        "region": maybe(st.sampled_from(FIXED_CHOICES["region"])),
        "business_model": maybe(st.sampled_from(FIXED_CHOICES["business_model"])),
        "plan": maybe(st.sampled_from([*FIXED_CHOICES["plan"], "legacy"])),
        "lifecycle_stage": maybe(st.sampled_from(FIXED_CHOICES["lifecycle_stage"][:3])),
        "employees": maybe(st.sampled_from(INTS)),
        "health_score": maybe(st.sampled_from([0, 50, 100])),
        "active_users": st.sampled_from([0, 1, 3, 7, 10]),
        "licensed_seats": maybe(st.sampled_from([0, 1, 3, 10, 20])),
        "open_tickets": st.sampled_from([0, 1, 10]),
        "cost_to_serve": maybe(st.sampled_from(MONEY)),
        "acquisition_cost": maybe(st.sampled_from(MONEY)),
        "arr": st.sampled_from(MONEY),
        "renewal_date": maybe(st.sampled_from(DATES)),
        "customer_since": maybe(st.sampled_from(DATES)),
        "churned_on": maybe(st.sampled_from(DATES)),
        "last_seen_at": maybe(st.sampled_from(DATES)),
        "has_champion": st.booleans(),
        "referenceable": st.booleans(),
        "owner": st.sampled_from([None, "alice", "Bob"]),
        "traits": traits(),
    }
)


# --- rules ---------------------------------------------------------------------------------


def scalars_for(field: str, kind: str) -> st.SearchStrategy:
    if field == "mrr":
        return st.sampled_from(MRR_OPERANDS)
    if field == "seat_utilization" or field == "traits.score":
        return st.sampled_from(RATIOS)
    if field == "csm":
        return st.sampled_from(["alice", "Bob", "bob", "AL", "b"])
    if field == "traits.color":
        return st.sampled_from(["red", "blue"])
    if field == "traits.note":
        return st.sampled_from(["gold", "Gold", "GOLD", "go", "x", ""])
    if kind == "choice":
        return st.sampled_from(FIXED_CHOICES[field])
    if kind == "text":
        return st.sampled_from(TEXT_OPERANDS)
    if kind == "integer":
        return st.sampled_from(INT_OPERANDS)
    if kind == "money":
        return st.sampled_from(MONEY_OPERANDS)
    if kind == "date":
        return st.sampled_from(DATES).map(date.isoformat)
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(kind)


FIELDS = {
    "name": "text",
    "domain": "text",
    "country": "text",
    "csm": "text",
    "plan": "choice",
    "region": "choice",
    "industry": "choice",
    "employees": "integer",
    "licensed_seats": "integer",
    "health_score": "integer",
    "arr": "money",
    "mrr": "money",
    "cost_to_serve": "money",
    "seat_utilization": "number",
    "renewal_date": "date",
    "last_seen_at": "date",
    "has_champion": "boolean",
    "business_model": "choice",
    "lifecycle_stage": "choice",
    "active_users": "integer",
    "open_tickets": "integer",
    "acquisition_cost": "money",
    "customer_since": "date",
    "churned_on": "date",
    "referenceable": "boolean",
    **{f"traits.{key}": spec.type for key, spec in ATTRIBUTES.items()},
}

OPERATORS = {
    "text": ["is_null", "is_not_null", "eq", "ne", "in", "not_in", "contains", "starts_with"],
    "choice": ["is_null", "is_not_null", "eq", "ne", "in", "not_in"],
    "integer": [
        "is_null",
        "is_not_null",
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "in",
        "not_in",
    ],
    "boolean": ["is_null", "is_not_null", "eq"],
    "date": [
        "is_null",
        "is_not_null",
        "eq",
        "before",
        "after",
        "on_or_before",
        "on_or_after",
        "between",
        "within_next_days",
        "within_last_days",
        "more_than_days_ago",
        "more_than_days_ahead",
    ],
}
OPERATORS["money"] = OPERATORS["number"] = OPERATORS["integer"]


@st.composite
def leaves(draw: st.DrawFn) -> dict:
    field = draw(st.sampled_from(sorted(FIELDS)))
    kind = FIELDS[field]
    op = draw(st.sampled_from(OPERATORS[kind]))
    node: dict = {"field": field, "op": op}
    scalars = scalars_for(field, kind)
    if op in ("is_null", "is_not_null"):
        return node
    if op.endswith("days") or op.endswith("ago") or op.endswith("ahead"):
        node["value"] = draw(st.sampled_from(DAY_COUNTS))
    elif op == "between":
        low, high = sorted([draw(scalars), draw(scalars)])
        node["value"] = [low, high]
    elif op in ("in", "not_in"):
        node["value"] = draw(st.lists(scalars, min_size=1, max_size=3))
    else:
        node["value"] = draw(scalars)
    return node


def _valid(rule: dict) -> bool:
    try:
        validate_rule(rule, attributes=ATTRIBUTES)
    except RuleValidationError:
        return False
    return True


rules = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda items: {"all": items}),
        st.lists(children, max_size=3).map(lambda items: {"any": items}),
        children.map(lambda child: {"not": child}),
    ),
    max_leaves=6,
).filter(_valid)


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batch=st.lists(accounts, min_size=ACCOUNTS_PER_EXAMPLE, max_size=ACCOUNTS_PER_EXAMPLE),
    examples=st.lists(rules, min_size=RULES_PER_EXAMPLE, max_size=RULES_PER_EXAMPLE),
)
def test_sql_and_evaluator_select_the_same_accounts(batch, examples):
    # Given a fresh batch of accounts written directly (derived columns set by hand)
    Account.objects.all().delete()
    users = {name: User.objects.get_or_create(username=name)[0] for name in ("alice", "Bob")}
    Account.objects.bulk_create(
        Account(
            external_id=f"h-{index}",
            **{**data, "owner": users[data["owner"]] if data["owner"] else None},
        )
        for index, data in enumerate(batch)
    )
    stored = list(Account.objects.select_related("owner"))
    values = {account.id: account_rule_values(account, attributes=ATTRIBUTES) for account in stored}
    for rule in examples:
        # When the rule runs as SQL and in memory
        selected = set(
            rule_queryset(rule, today=TODAY, attributes=ATTRIBUTES).values_list("id", flat=True)
        )
        evaluated = {
            account_id
            for account_id, account_values in values.items()
            if evaluate_rule(rule, account_values, today=TODAY, attributes=ATTRIBUTES)
        }
        # Then both select exactly the same accounts
        assert selected == evaluated, rule

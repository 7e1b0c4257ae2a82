"""The in-memory evaluator: null semantics (DESIGN 3.3), boundaries, relative dates,
case rules, explain output and the values an account exposes. No database needed."""

from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from rules import (
    OPERATORS_BY_TYPE,
    AttributeSpec,
    RuleValidationError,
    account_rule_values,
    evaluate_rule,
    explain_rule,
)
from rules.tests.rule_nodes import leaf

TODAY = date(2026, 11, 22)
ATTRIBUTES = {
    "tier": AttributeSpec("tier", "integer"),
    "score": AttributeSpec("score", "number"),
    "since": AttributeSpec("since", "date"),
    "vip": AttributeSpec("vip", "boolean"),
    "color": AttributeSpec("color", "choice", ("red", "blue")),
}


def matches(rule: dict, **values: object) -> bool:
    return evaluate_rule(rule, values, today=TODAY)


NULL_CASES = [
    ("name", "text", "Acme"),
    ("plan", "choice", "pro"),
    ("employees", "integer", 10),
    ("seat_utilization", "number", 0.5),
    ("cost_to_serve", "money", 100),
    ("renewal_date", "date", "2026-12-01"),
    ("has_champion", "boolean", True),
]


def operand(kind: str, op: str, scalar: object) -> object:
    if op.endswith("_days") or op.endswith("_days_ago") or op.endswith("_days_ahead"):
        return 10
    if op == "between":
        return [scalar, scalar]
    if op in ("in", "not_in"):
        return [scalar]
    return scalar


@pytest.mark.parametrize(
    ("field", "op", "value"),
    [
        pytest.param(field, op, operand(kind, op, scalar), id=f"{field}-{op}")
        for field, kind, scalar in NULL_CASES
        for op in OPERATORS_BY_TYPE[kind]
    ],
)
def test_every_comparison_with_null_is_false_except_is_null(field, op, value):
    # Given an account whose value is null (or missing)
    rule = leaf(field, op, value)
    expected = op == "is_null"
    # Then the comparison is false (true only for is_null) and `not` is its negation
    assert matches(rule, **{field: None}) is expected
    assert matches(rule) is expected
    assert matches({"not": rule}, **{field: None}) is (not expected)


def test_ne_and_not_in_do_not_match_null_but_their_negation_does():
    assert matches(leaf("plan", "ne", "pro"), plan="free") is True
    assert matches(leaf("plan", "ne", "pro"), plan=None) is False
    assert matches(leaf("plan", "not_in", ["pro"]), plan=None) is False
    assert matches({"not": leaf("plan", "eq", "pro")}, plan=None) is True
    assert matches({"not": leaf("plan", "ne", "pro")}, plan=None) is True


def test_empty_all_matches_and_empty_any_does_not():
    assert matches({"all": []}) is True
    assert matches({"any": []}) is False
    assert matches({"not": {"all": []}}) is False
    assert matches({"not": {"any": []}}) is True


def test_all_any_not_combine():
    rule = {
        "all": [
            leaf("arr", "gte", 100000),
            {"any": [leaf("plan", "eq", "enterprise"), leaf("region", "in", ["EMEA", "APAC"])]},
            {"not": leaf("lifecycle_stage", "eq", "churned")},
        ]
    }
    base = {"arr": Decimal("150000.00"), "plan": "pro", "region": "EMEA", "lifecycle_stage": None}
    assert evaluate_rule(rule, base, today=TODAY) is True
    assert evaluate_rule(rule, {**base, "region": "NA"}, today=TODAY) is False
    assert evaluate_rule(rule, {**base, "lifecycle_stage": "churned"}, today=TODAY) is False
    assert evaluate_rule(rule, {**base, "arr": Decimal("99999.99")}, today=TODAY) is False


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"),
    [
        ("eq", 100000, Decimal("100000.00"), True),
        ("eq", 100000.01, Decimal("100000.00"), False),
        ("ne", 100000, Decimal("100000.00"), False),
        ("gt", 100000, Decimal("100000.00"), False),
        ("gt", 100000, Decimal("100000.01"), True),
        ("gte", 100000, Decimal("100000.00"), True),
        ("gte", 100000.01, Decimal("100000.00"), False),
        ("lt", 100000, Decimal("100000.00"), False),
        ("lt", 100000, Decimal("99999.99"), True),
        ("lte", 100000, Decimal("100000.00"), True),
        ("between", [100, 200], Decimal("100.00"), True),
        ("between", [100, 200], Decimal("200.00"), True),
        ("between", [100, 200], Decimal("200.01"), False),
        ("between", [100, 200], Decimal("99.99"), False),
        ("in", [1, 100000], Decimal("100000.00"), True),
        ("in", [1, 2], Decimal("100000.00"), False),
        ("not_in", [1, 2], Decimal("100000.00"), True),
        ("eq", 0.1, Decimal("0.10"), True),
    ],
)
def test_money_compares_exactly_at_the_boundaries(op, value, actual, expected):
    assert matches(leaf("arr", op, value), arr=actual) is expected


def test_mrr_is_arr_over_twelve_unrounded():
    account = SimpleNamespace(arr=Decimal("100.00"), owner=None, owner_id=None, traits={})
    values = account_rule_values(account)
    # 100 / 12 = 8.3333…: above 8.333333 and below 8.333334, never "equal" after rounding
    assert matches(leaf("mrr", "gt", 8.333333), **values) is True
    assert matches(leaf("mrr", "lt", 8.333334), **values) is True
    assert matches(leaf("mrr", "eq", 8.33), **values) is False
    exact = account_rule_values(SimpleNamespace(arr=Decimal("120000.12"), traits={}))
    assert exact["mrr"] == Decimal("10000.01")
    assert matches(leaf("mrr", "eq", 10000.01), **exact) is True


def test_seat_utilization_is_exact_and_null_without_seats():
    values = account_rule_values(SimpleNamespace(active_users=7, licensed_seats=10, traits={}))
    assert values["seat_utilization"] == Decimal("0.7")
    assert matches(leaf("seat_utilization", "eq", 0.7), **values) is True
    assert matches(leaf("seat_utilization", "gte", 0.7), **values) is True
    assert matches(leaf("seat_utilization", "gt", 0.7), **values) is False
    for seats in (None, 0):
        values = account_rule_values(
            SimpleNamespace(active_users=7, licensed_seats=seats, traits={})
        )
        assert values["seat_utilization"] is None
        assert matches(leaf("seat_utilization", "is_null"), **values) is True


def test_integer_fields_compare_as_integers():
    assert matches(leaf("employees", "gt", 10), employees=11) is True
    assert matches(leaf("employees", "gt", 10), employees=10) is False
    assert matches(leaf("employees", "between", [10, 20]), employees=20) is True
    assert matches(leaf("employees", "in", [1, 2]), employees=2) is True


def test_text_eq_and_in_are_case_sensitive():
    assert matches(leaf("name", "eq", "Acme"), name="Acme") is True
    assert matches(leaf("name", "eq", "Acme"), name="acme") is False
    assert matches(leaf("name", "in", ["ACME", "Beta"]), name="Acme") is False
    assert matches(leaf("name", "ne", "acme"), name="Acme") is True
    assert matches(leaf("name", "not_in", ["acme"]), name="Acme") is True


def test_contains_and_starts_with_are_case_insensitive():
    assert matches(leaf("name", "contains", "CME"), name="Acme Inc") is True
    assert matches(leaf("name", "contains", "xyz"), name="Acme Inc") is False
    assert matches(leaf("name", "starts_with", "aCm"), name="Acme Inc") is True
    assert matches(leaf("name", "starts_with", "inc"), name="Acme Inc") is False
    assert matches(leaf("domain", "contains", "%"), domain="100%.io") is True
    assert matches(leaf("domain", "contains", "_"), domain="acme.io") is False
    assert matches(leaf("name", "contains", ""), name="") is True


def test_boolean_eq():
    assert matches(leaf("has_champion", "eq", True), has_champion=True) is True
    assert matches(leaf("has_champion", "eq", False), has_champion=True) is False
    assert matches(leaf("has_champion", "eq", False), has_champion=False) is True


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


@pytest.mark.parametrize(
    ("op", "n", "offset", "expected"),
    [
        ("within_next_days", 30, -1, False),
        ("within_next_days", 30, 0, True),
        ("within_next_days", 30, 30, True),
        ("within_next_days", 30, 31, False),
        ("within_next_days", 0, 0, True),
        ("within_last_days", 30, 1, False),
        ("within_last_days", 30, 0, True),
        ("within_last_days", 30, -30, True),
        ("within_last_days", 30, -31, False),
        ("more_than_days_ago", 30, -30, False),
        ("more_than_days_ago", 30, -31, True),
        ("more_than_days_ago", 0, 0, False),
        ("more_than_days_ago", 0, -1, True),
        ("more_than_days_ahead", 30, 30, False),
        ("more_than_days_ahead", 30, 31, True),
        ("more_than_days_ahead", 0, 1, True),
        ("within_next_days", 36500, 36500, True),
    ],
)
def test_relative_dates_are_relative_to_today(op, n, offset, expected):
    assert matches(leaf("renewal_date", op, n), renewal_date=days(offset)) is expected


def test_relative_dates_follow_the_injected_today():
    rule = leaf("renewal_date", "within_next_days", 90)
    values = {"renewal_date": date(2027, 2, 1)}
    assert evaluate_rule(rule, values, today=date(2026, 11, 22)) is True
    assert evaluate_rule(rule, values, today=date(2026, 11, 1)) is False


def test_relative_dates_near_the_end_of_the_calendar_do_not_overflow():
    far = date(9999, 12, 1)
    rule = leaf("renewal_date", "more_than_days_ahead", 36500)
    assert evaluate_rule(rule, {"renewal_date": far}, today=far) is False
    rule = leaf("renewal_date", "within_next_days", 36500)
    assert evaluate_rule(rule, {"renewal_date": date(9999, 12, 31)}, today=far) is True


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", "2026-11-22", True),
        ("before", "2026-11-22", False),
        ("before", "2026-11-23", True),
        ("after", "2026-11-21", True),
        ("after", "2026-11-22", False),
        ("on_or_before", "2026-11-22", True),
        ("on_or_after", "2026-11-22", True),
        ("on_or_after", "2026-11-23", False),
        ("between", ["2026-11-22", "2026-11-22"], True),
        ("between", ["2026-11-23", "2026-12-22"], False),
    ],
)
def test_absolute_dates_are_inclusive_where_documented(op, value, expected):
    assert matches(leaf("customer_since", op, value), customer_since=TODAY) is expected


def test_values_given_as_strings_are_coerced_to_the_field_type():
    assert matches(leaf("renewal_date", "eq", "2026-11-22"), renewal_date="2026-11-22") is True
    assert matches(leaf("arr", "gte", 10), arr="12.50") is True
    assert matches(leaf("arr", "gte", 10), arr="twelve") is False


def test_traits_are_typed_by_their_declaration():
    account = SimpleNamespace(
        traits={"tier": 3, "score": "4.50", "since": "2024-02-29", "vip": True, "color": "red"}
    )
    values = account_rule_values(account, attributes=ATTRIBUTES)
    assert values["traits.tier"] == 3
    assert values["traits.score"] == Decimal("4.50")
    assert values["traits.since"] == date(2024, 2, 29)
    assert values["traits.vip"] is True
    assert values["traits.color"] == "red"
    rule = {
        "all": [
            leaf("traits.tier", "gte", 3),
            leaf("traits.score", "between", [4.5, 5]),
            leaf("traits.since", "more_than_days_ago", 365),
            leaf("traits.vip", "eq", True),
            leaf("traits.color", "in", ["red"]),
        ]
    }
    assert evaluate_rule(rule, values, today=TODAY, attributes=ATTRIBUTES) is True
    # Without the declarations, the types are inferred from the typed values
    assert evaluate_rule(rule, values, today=TODAY) is True


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("tier", 3.5),
        ("tier", 3.0),
        ("tier", "3"),
        ("tier", True),
        ("tier", 10**19),
        ("score", "abc"),
        ("score", "1e5"),
        ("score", " 1"),
        ("score", "1.5\n"),
        ("score", True),
        ("score", float("nan")),
        ("since", "2026-02-30"),
        ("since", "20261122"),
        ("since", "2026-11-22\n"),
        ("since", 20261122),
        ("vip", "true"),
        ("vip", 1),
        ("color", 5),
        ("color", ["red"]),
    ],
)
def test_a_malformed_trait_is_null(key, raw):
    values = account_rule_values(SimpleNamespace(traits={key: raw}), attributes=ATTRIBUTES)
    assert values[f"traits.{key}"] is None
    assert evaluate_rule(leaf(f"traits.{key}", "is_null"), values, today=TODAY) is True
    assert (
        evaluate_rule(
            {"not": leaf(f"traits.{key}", "is_not_null")},
            values,
            today=TODAY,
            attributes=ATTRIBUTES,
        )
        is True
    )


def test_account_values_cover_every_builtin_field():
    owner = SimpleNamespace(username="alice")
    account = SimpleNamespace(
        name="Acme",
        domain=None,
        arr=Decimal("1200.00"),
        renewal_date=date(2027, 1, 1),
        owner=owner,
        owner_id=1,
        active_users=5,
        licensed_seats=10,
        has_champion=True,
        traits=None,
    )
    values = account_rule_values(account, attributes=ATTRIBUTES)
    assert values["csm"] == "alice"
    assert values["mrr"] == Decimal("100")
    assert values["seat_utilization"] == Decimal("0.5")
    assert values["domain"] is None and values["plan"] is None
    assert values["traits.tier"] is None
    from rules import FIELD_TYPES

    assert set(FIELD_TYPES) <= set(values)
    unassigned = account_rule_values(SimpleNamespace(owner=None, owner_id=None, traits={}))
    assert unassigned["csm"] is None


def test_explain_marks_every_node_and_shows_actual_values():
    rule = {
        "all": [
            {"field": "arr", "op": "gte", "value": 100000},
            {"any": [{"field": "plan", "op": "eq", "value": "enterprise"}]},
            {"not": {"field": "renewal_date", "op": "is_null"}},
            {"field": "churned_on", "op": "is_null"},
        ]
    }
    values = {
        "arr": Decimal("120000.00"),
        "plan": "pro",
        "renewal_date": date(2027, 3, 1),
        "churned_on": None,
    }
    assert explain_rule(rule, values, today=TODAY) == {
        "all": [
            {"field": "arr", "op": "gte", "value": 100000, "matched": True, "actual": "120000.00"},
            {
                "any": [
                    {
                        "field": "plan",
                        "op": "eq",
                        "value": "enterprise",
                        "matched": False,
                        "actual": "pro",
                    }
                ],
                "matched": False,
            },
            {
                "not": {
                    "field": "renewal_date",
                    "op": "is_null",
                    "matched": False,
                    "actual": "2027-03-01",
                },
                "matched": True,
            },
            {"field": "churned_on", "op": "is_null", "matched": True, "actual": None},
        ],
        "matched": False,
    }
    # The input rule is not modified
    assert "matched" not in rule


def test_explain_shows_long_quotients_to_six_places():
    values = account_rule_values(SimpleNamespace(arr=Decimal("100.00"), traits={}))
    explained = explain_rule({"field": "mrr", "op": "gt", "value": 8}, values, today=TODAY)
    assert explained == {
        "field": "mrr",
        "op": "gt",
        "value": 8,
        "matched": True,
        "actual": "8.333333",
    }


def test_an_invalid_rule_is_refused_by_the_evaluator():
    with pytest.raises(RuleValidationError):
        evaluate_rule({"field": "arr", "op": "gte", "value": "x"}, {}, today=TODAY)
    with pytest.raises(RuleValidationError):
        explain_rule({"field": "nope", "op": "eq", "value": 1}, {}, today=TODAY)


def test_explain_output_is_json_serializable():
    import json

    values = account_rule_values(
        SimpleNamespace(
            arr=Decimal("1200.00"),
            renewal_date=date(2027, 1, 1),
            traits={"score": 1.5, "since": "2024-02-29", "vip": True},
        ),
        attributes=ATTRIBUTES,
    )
    rule = {
        "all": [
            leaf("mrr", "gte", 100),
            leaf("renewal_date", "within_next_days", 60),
            leaf("traits.score", "between", [1, 2]),
            leaf("traits.since", "before", "2025-01-01"),
            leaf("traits.vip", "eq", True),
            leaf("traits.tier", "is_null"),
        ]
    }
    explained = explain_rule(rule, values, today=TODAY, attributes=ATTRIBUTES)
    assert explained["matched"] is True
    assert [child["actual"] for child in explained["all"]] == [
        "100.00",
        "2027-01-01",
        "1.5",
        "2024-02-29",
        True,
        None,
    ]
    assert json.loads(json.dumps(explained)) == explained

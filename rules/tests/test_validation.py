"""Validation of the rule language (DESIGN 3.5): every operator of every type is accepted
with a good value, every other operator is refused, and every kind of error names its path.
No database needed."""

import json
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import (
    CHOICES,
    FIELD_TYPES,
    OPERATORS_BY_TYPE,
    RANKABLE_FIELDS,
    AttributeSpec,
    RuleError,
    RuleValidationError,
    attribute_specs_from_definitions,
    field_type,
    validate_rank,
    validate_rule,
)
from rules.vocabulary import ALL_OPERATORS

from .fixed_choices import FIXED_CHOICES

ATTRIBUTES = {
    "note": AttributeSpec("note", "text"),
    "color": AttributeSpec("color", "choice", ("red", "blue")),
    "tier": AttributeSpec("tier", "integer"),
    "score": AttributeSpec("score", "number"),
    "budget": AttributeSpec("budget", "money"),
    "since": AttributeSpec("since", "date"),
    "vip": AttributeSpec("vip", "boolean"),
}

# One built-in field and one custom attribute per type, with a valid scalar value.
FIELDS_BY_TYPE = {
    "text": (("name", "Acme"), ("traits.note", "gold")),
    "choice": (("plan", "pro"), ("traits.color", "red")),
    "integer": (("employees", 10), ("traits.tier", 3)),
    "number": (("seat_utilization", 0.75), ("traits.score", 4.5)),
    "money": (("arr", 100000), ("traits.budget", 2500.5)),
    "date": (("renewal_date", "2026-12-01"), ("traits.since", "2024-02-29")),
    "boolean": (("has_champion", True), ("traits.vip", False)),
}


def good_value(kind: str, op: str, scalar: object) -> object:
    if op in ("is_null", "is_not_null"):
        return None
    if op in ("within_next_days", "within_last_days", "more_than_days_ago", "more_than_days_ahead"):
        return 30
    if op == "between":
        return {"date": ["2026-01-01", "2026-12-31"]}.get(
            kind, [1, 2.5] if kind != "integer" else [1, 2]
        )
    if op in ("in", "not_in"):
        return [scalar]
    return scalar


def leaf(field: str, op: str, value: object = None) -> dict:
    node = {"field": field, "op": op}
    if op not in ("is_null", "is_not_null"):
        node["value"] = value
    return node


def errors_of(rule: object, attributes=ATTRIBUTES) -> list[str]:
    with pytest.raises(RuleValidationError) as caught:
        validate_rule(rule, attributes=attributes)
    return [str(error) for error in caught.value.errors]


GOOD_CASES = [
    pytest.param(field, op, good_value(kind, op, scalar), id=f"{kind}-{field}-{op}")
    for kind, fields in FIELDS_BY_TYPE.items()
    for field, scalar in fields
    for op in OPERATORS_BY_TYPE[kind]
]


@pytest.mark.parametrize(("field", "op", "value"), GOOD_CASES)
def test_every_operator_of_every_type_accepts_a_good_value(field, op, value):
    # Given a leaf with an operator allowed for the field's type and a good value
    rule = {"all": [leaf(field, op, value)]}
    # When it is validated, then nothing is raised (also after a JSON round trip)
    validate_rule(rule, attributes=ATTRIBUTES)
    validate_rule(json.loads(json.dumps(rule)), attributes=ATTRIBUTES)


REFUSED_CASES = [
    pytest.param(kind, field, op, id=f"{kind}-{field}-{op}")
    for kind, fields in FIELDS_BY_TYPE.items()
    for field, _scalar in fields
    for op in sorted(ALL_OPERATORS - set(OPERATORS_BY_TYPE[kind]))
]


@pytest.mark.parametrize(("kind", "field", "op"), REFUSED_CASES)
def test_operators_not_allowed_for_a_type_are_refused_with_the_op_path(kind, field, op):
    # Given an operator that exists but not for this field's type
    rule = {"any": [{"field": field, "op": op, "value": 1}]}
    # When validated, then the error names any[0].op and lists the allowed operators
    allowed = ", ".join(OPERATORS_BY_TYPE[kind])
    assert errors_of(rule) == [
        f'any[0].op: operator "{op}" is not allowed for {kind} field "{field}"; allowed: {allowed}'
    ]


def test_the_design_example_message_is_exact():
    rule = {
        "all": [
            {"field": "plan", "op": "eq", "value": "pro"},
            {"field": "region", "op": "in", "value": ["NA", "EMEA"]},
            {"field": "arr", "op": "gte", "value": "abc"},
        ]
    }
    with pytest.raises(RuleValidationError) as caught:
        validate_rule(rule)
    assert str(caught.value) == 'all[2].value: expected a number, got "abc"'
    assert caught.value.errors == [RuleError("all[2].value", 'expected a number, got "abc"')]
    assert caught.value.as_list() == [
        {"path": "all[2].value", "message": 'expected a number, got "abc"'}
    ]
    assert isinstance(caught.value, ValueError)


PLANS = ", ".join(FIXED_CHOICES["plan"])
ERROR_CASES = [
    ("abc", ['expected a rule object, got "abc"']),
    ([], ["expected a rule object, got []"]),
    (None, ["expected a rule object, got null"]),
    ({}, ['expected an object with "all", "any", "not" or "field"']),
    ({"all": [], "any": []}, ["expected exactly one of all, any, not, field; got all, any"]),
    ({"not": {}, "field": "arr"}, ["expected exactly one of all, any, not, field; got not, field"]),
    ({"all": {}}, ["all: expected a list of rules, got {}"]),
    ({"any": "x"}, ['any: expected a list of rules, got "x"']),
    ({"all": [], "extra": 1}, ["extra: unknown key"]),
    ({"all": [{"field": "name", "op": "eq", "value": "x", "foo": 1}]}, ["all[0].foo: unknown key"]),
    ({"field": "nope", "op": "eq", "value": 1}, ['field: unknown field "nope"']),
    (
        {"field": "name__startswith", "op": "eq", "value": "a"},
        ['field: unknown field "name__startswith"'],
    ),
    (
        {"field": "traits.nope", "op": "eq", "value": 1},
        ['field: unknown custom attribute "traits.nope"'],
    ),
    ({"field": 5, "op": "eq", "value": 1}, ["field: expected a field name, got 5"]),
    ({"field": "nope", "op": "zzz"}, ['field: unknown field "nope"', 'op: unknown operator "zzz"']),
    ({"field": "name"}, ["op: missing operator"]),
    ({"field": "name", "op": None}, ["op: unknown operator null"]),
    ({"field": "name", "op": "like", "value": "a"}, ['op: unknown operator "like"']),
    ({"field": "name", "op": "eq"}, ["value: missing value"]),
    (
        {"field": "name", "op": "is_null", "value": None},
        ['value: operator "is_null" takes no value'],
    ),
    (
        {"field": "arr", "op": "is_not_null", "value": 1},
        ['value: operator "is_not_null" takes no value'],
    ),
    ({"field": "arr", "op": "gte", "value": True}, ["value: expected a number, got true"]),
    ({"field": "arr", "op": "gte", "value": "100"}, ['value: expected a number, got "100"']),
    ({"field": "arr", "op": "gte", "value": None}, ["value: expected a number, got null"]),
    ({"field": "employees", "op": "eq", "value": 1.5}, ["value: expected a whole number, got 1.5"]),
    (
        {"field": "employees", "op": "eq", "value": False},
        ["value: expected a whole number, got false"],
    ),
    (
        {"field": "traits.tier", "op": "gt", "value": "3"},
        ['value: expected a whole number, got "3"'],
    ),
    (
        {"field": "arr", "op": "gte", "value": 1e16},
        ["value: expected a number from -10^15 to 10^15, got 1e+16"],
    ),
    (
        {"field": "employees", "op": "lt", "value": -(10**16)},
        ["value: expected a number from -10^15 to 10^15, got -10000000000000000"],
    ),
    (
        {"field": "mrr", "op": "eq", "value": 0.1234567},
        ["value: expected at most 6 decimal places, got 0.1234567"],
    ),
    ({"field": "name", "op": "eq", "value": 5}, ["value: expected a text value, got 5"]),
    (
        {"field": "csm", "op": "eq", "value": "x" * 1001},
        ["value: expected at most 1000 characters"],
    ),
    (
        {"field": "plan", "op": "eq", "value": "gold"},
        [f'value: unknown choice "gold"; expected one of {PLANS}'],
    ),
    (
        {"field": "traits.color", "op": "ne", "value": "green"},
        ['value: unknown choice "green"; expected one of red, blue'],
    ),
    (
        {"field": "renewal_date", "op": "eq", "value": "2026-13-01"},
        ['value: expected a date as "YYYY-MM-DD", got "2026-13-01"'],
    ),
    (
        {"field": "renewal_date", "op": "eq", "value": "2026-02-29"},
        ['value: expected a date as "YYYY-MM-DD", got "2026-02-29"'],
    ),
    (
        {"field": "traits.since", "op": "after", "value": "20261122"},
        ['value: expected a date as "YYYY-MM-DD", got "20261122"'],
    ),
    (
        {"field": "churned_on", "op": "before", "value": "2026-01-01T00:00"},
        ['value: expected a date as "YYYY-MM-DD", got "2026-01-01T00:00"'],
    ),
    (
        {"field": "has_champion", "op": "eq", "value": "yes"},
        ['value: expected true or false, got "yes"'],
    ),
    ({"field": "traits.vip", "op": "eq", "value": 1}, ["value: expected true or false, got 1"]),
    (
        {"field": "renewal_date", "op": "within_next_days", "value": -1},
        ["value: expected a whole number of days from 0 to 36500, got -1"],
    ),
    (
        {"field": "renewal_date", "op": "more_than_days_ago", "value": True},
        ["value: expected a whole number of days from 0 to 36500, got true"],
    ),
    (
        {"field": "last_seen_at", "op": "within_last_days", "value": 36501},
        ["value: expected a whole number of days from 0 to 36500, got 36501"],
    ),
    (
        {"field": "arr", "op": "between", "value": "a"},
        ['value: expected a list [low, high], got "a"'],
    ),
    (
        {"field": "arr", "op": "between", "value": [1]},
        ["value: expected a list [low, high], got [1]"],
    ),
    (
        {"field": "arr", "op": "between", "value": [1, 2, 3]},
        ["value: expected a list [low, high], got [1, 2, 3]"],
    ),
    (
        {"field": "arr", "op": "between", "value": [10, 5]},
        ["value: low bound 10 is greater than high bound 5"],
    ),
    (
        {"field": "arr", "op": "between", "value": [1, "x"]},
        ['value[1]: expected a number, got "x"'],
    ),
    (
        {"field": "customer_since", "op": "between", "value": ["2026-01-02", "2026-01-01"]},
        ['value: low bound "2026-01-02" is greater than high bound "2026-01-01"'],
    ),
    (
        {"field": "plan", "op": "in", "value": []},
        ["value: expected a non-empty list of values, got []"],
    ),
    (
        {"field": "plan", "op": "not_in", "value": "pro"},
        ['value: expected a non-empty list of values, got "pro"'],
    ),
    (
        {"field": "plan", "op": "in", "value": ["pro", "gold"]},
        [f'value[1]: unknown choice "gold"; expected one of {PLANS}'],
    ),
    (
        {"field": "employees", "op": "in", "value": list(range(1001))},
        ["value: expected at most 1000 values, got 1001"],
    ),
    ({"not": {"any": [{"not": 5}]}}, ["not.any[0].not: expected a rule object, got 5"]),
    (
        {"any": [{"not": {"field": "nope", "op": "eq", "value": 1}}]},
        ['any[0].not.field: unknown field "nope"'],
    ),
    (
        {
            "all": [
                {"field": "nope", "op": "eq", "value": 1},
                {"any": [{"field": "arr", "op": "gte", "value": "x"}]},
            ]
        },
        ['all[0].field: unknown field "nope"', 'all[1].any[0].value: expected a number, got "x"'],
    ),
]


@pytest.mark.parametrize(("rule", "expected"), ERROR_CASES, ids=lambda case: json.dumps(case)[:50])
def test_each_kind_of_error_is_reported_with_its_path(rule, expected):
    # Given an invalid rule, when validated, then every error is listed with its path
    assert errors_of(rule) == expected


def test_str_of_the_error_joins_every_message():
    rule = {"all": [{"field": "nope", "op": "eq", "value": 1}, {"field": "arr", "op": "gte"}]}
    with pytest.raises(RuleValidationError) as caught:
        validate_rule(rule)
    assert str(caught.value) == 'all[0].field: unknown field "nope"; all[1].value: missing value'


def nested_nots(levels: int) -> dict:
    rule: dict = {"field": "arr", "op": "gt", "value": 0}
    for _ in range(levels - 1):
        rule = {"not": rule}
    return rule


def test_ten_levels_are_allowed_and_eleven_are_too_deep():
    validate_rule(nested_nots(10))
    assert errors_of(nested_nots(11)) == [
        ".".join(["not"] * 10) + ": rule is too deep (more than 10 levels)"
    ]


def test_a_very_deep_input_fails_cleanly_without_recursing():
    assert errors_of(nested_nots(5000)) == [
        ".".join(["not"] * 10) + ": rule is too deep (more than 10 levels)"
    ]


def test_two_hundred_nodes_are_allowed_and_more_are_too_large():
    item = {"field": "arr", "op": "gt", "value": 0}
    validate_rule({"all": [item] * 199})
    assert errors_of({"all": [item] * 200}) == ["rule is too large (more than 200 nodes)"]
    assert errors_of({"any": [{"not": item}] * 100}) == ["rule is too large (more than 200 nodes)"]
    assert errors_of({"any": [item] * 1_000_000}) == ["rule is too large (more than 200 nodes)"]


def test_boundary_values_are_accepted():
    for rule in (
        {"field": "arr", "op": "lte", "value": 10**15},
        {"field": "arr", "op": "gte", "value": -(10**15)},
        {"field": "mrr", "op": "gte", "value": 0.123456},
        {"field": "employees", "op": "eq", "value": 10.0},
        {"field": "renewal_date", "op": "within_next_days", "value": 0},
        {"field": "renewal_date", "op": "more_than_days_ahead", "value": 36500},
        {"field": "arr", "op": "between", "value": [5, 5]},
        {"field": "renewal_date", "op": "eq", "value": "2000-02-29"},
        {"field": "plan", "op": "in", "value": list(FIXED_CHOICES["plan"]) * 250},
        {"all": []},
        {"any": []},
        {"not": {"all": []}},
    ):
        validate_rule(rule)


def test_choices_are_read_from_the_registered_fields():
    assert CHOICES["plan"] == FIXED_CHOICES["plan"]
    assert CHOICES["region"] == ("NA", "EMEA", "APAC", "LATAM")
    assert CHOICES["lifecycle_stage"] == FIXED_CHOICES["lifecycle_stage"]


def test_field_types_follow_the_design_table():
    assert FIELD_TYPES["arr"] == "money" and FIELD_TYPES["mrr"] == "money"
    assert FIELD_TYPES["csm"] == "text"
    assert FIELD_TYPES["seat_utilization"] == "number"
    assert FIELD_TYPES["renewal_date"] == "date"
    assert field_type("traits.tier", ATTRIBUTES) == "integer"
    assert field_type("traits.tier") is None
    assert field_type("nope", ATTRIBUTES) is None
    assert field_type("traits.a'b", {"a'b": AttributeSpec("a'b", "text")}) is None
    assert "arr" in RANKABLE_FIELDS and "renewal_date" in RANKABLE_FIELDS
    assert "name" not in RANKABLE_FIELDS and "has_champion" not in RANKABLE_FIELDS


def test_a_trait_key_that_is_not_a_slug_is_never_accepted():
    attributes = {"a'b": AttributeSpec("a'b", "text")}
    assert errors_of({"field": "traits.a'b", "op": "eq", "value": "x"}, attributes) == [
        'field: unknown custom attribute "traits.a\'b"'
    ]


def test_attribute_specs_are_read_from_definitions_duck_typed():
    definitions = [
        SimpleNamespace(key="tier", type="integer", choices=[]),
        SimpleNamespace(key="color", type="choice", choices=["red", "blue"]),
        SimpleNamespace(key="legacy", type="text", choices=None),
    ]
    assert attribute_specs_from_definitions(definitions) == {
        "tier": AttributeSpec("tier", "integer"),
        "color": AttributeSpec("color", "choice", ("red", "blue")),
        "legacy": AttributeSpec("legacy", "text"),
    }


@pytest.mark.parametrize(
    ("rank_by", "rank_limit", "expected"),
    [
        ("", None, []),
        (None, None, []),
        ("arr", 100, []),
        ("renewal_date", 1, []),
        ("traits.score", 5, []),
        ("traits.since", 5, []),
        ("name", 10, ['rank_by: cannot rank by "name"; expected a numeric, money or date field']),
        (
            "traits.note",
            10,
            ['rank_by: cannot rank by "traits.note"; expected a numeric, money or date field'],
        ),
        (
            "traits.nope",
            10,
            ['rank_by: cannot rank by "traits.nope"; expected a numeric, money or date field'],
        ),
        ("arr", None, ["rank_limit: required when rank_by is set"]),
        ("", 10, ["rank_by: required when rank_limit is set"]),
        ("arr", 0, ["rank_limit: expected a number from 1 to 1000000"]),
        ("arr", "10", ['rank_limit: expected a whole number, got "10"']),
        ("arr", True, ["rank_limit: expected a whole number, got true"]),
    ],
)
def test_validate_rank(rank_by, rank_limit, expected):
    if not expected:
        validate_rank(rank_by, rank_limit, ATTRIBUTES)
        return
    with pytest.raises(RuleValidationError) as caught:
        validate_rank(rank_by, rank_limit, ATTRIBUTES)
    assert [str(error) for error in caught.value.errors] == expected


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["all", "any", "not", "field", "op", "value", "arr", "plan", "traits.tier"])
    | st.sampled_from(["eq", "in", "between", "within_next_days", "2026-01-01", "pro"])
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["all", "any", "not", "field", "op", "value", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(rule=json_values)
def test_arbitrary_input_is_either_valid_or_refused_with_paths(rule):
    # Given any JSON-like input, when validated, then it is accepted (and evaluates) or
    # refused with a RuleValidationError whose every error is a RuleError, never a crash
    try:
        validate_rule(rule, attributes=ATTRIBUTES)
    except RuleValidationError as error:
        assert error.errors
        assert all(isinstance(item, RuleError) for item in error.errors)
        assert str(error)
    else:
        from datetime import date

        from rules import evaluate_rule

        assert evaluate_rule(rule, {}, today=date(2026, 11, 22), attributes=ATTRIBUTES) in (
            True,
            False,
        )

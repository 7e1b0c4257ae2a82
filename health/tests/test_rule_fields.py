"""Rules on the health fields (DESIGN 12): health.score, health.status, health.MEASURE_KEY
and health.change_30d agree between the compiled SQL and the evaluator (explain), rank a
segment, and unknown health fields are refused with the path."""

from datetime import date, timedelta

import pytest

from customers.models import Account
from customers.tests.factories import AccountFactory
from rules import (
    RuleValidationError,
    account_rule_values,
    evaluate_rule,
    explain_rule,
    rank_order_by,
    rule_queryset,
    rule_schema,
    validate_rule,
)
from segments.tests.engine_fixtures import member_ids, published, recompute

from .fixtures import field, run, scorecard

TODAY = date(2026, 11, 22)
pytestmark = pytest.mark.django_db
TICKETS = field("tickets", "open_tickets", 10, 0)


@pytest.fixture
def scored(settings):
    """Accounts scored 100, 50 and 0 today; the first also scored 40 thirty-five days ago;
    one account never scored."""
    settings.CS_TODAY = TODAY
    accounts = [AccountFactory(open_tickets=t) for t in (4, 5, 10)]
    scorecard(measures=[TICKETS, field("size", "employees", 0, 100)])
    # 35 days ago the first had 6 open tickets (score 40)
    Account.objects.filter(pk=accounts[0].pk).update(open_tickets=6)
    run(today=TODAY - timedelta(days=35))
    Account.objects.filter(pk=accounts[0].pk).update(open_tickets=0)
    run(today=TODAY)
    never = AccountFactory(open_tickets=0)  # created after the run: no health yet
    return [*accounts, never]


RULES = [
    {"field": "health.score", "op": "gte", "value": 50},
    {"field": "health.score", "op": "is_null"},
    {"field": "health.status", "op": "eq", "value": "red"},
    {"field": "health.status", "op": "in", "value": ["yellow", "green"]},
    {"not": {"field": "health.status", "op": "eq", "value": "green"}},
    {"field": "health.tickets", "op": "between", "value": [40, 60]},
    {"field": "health.tickets", "op": "gt", "value": 99.5},
    {"field": "health.size", "op": "is_null"},
    {"field": "health.change_30d", "op": "gt", "value": 0},
    {"field": "health.change_30d", "op": "is_null"},
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: str(r)[:60])
def test_compiled_sql_and_the_evaluator_agree(scored, rule):
    in_sql = set(rule_queryset(rule, today=TODAY).values_list("pk", flat=True))
    in_memory = {
        account.pk
        for account in Account.objects.all()
        if evaluate_rule(rule, account_rule_values(account, rule=rule, today=TODAY), today=TODAY)
    }
    assert in_sql == in_memory


def test_values_read_by_explain(scored):
    first, second, third, never = scored
    rule = {
        "all": [
            {"field": "health.score", "op": "gte", "value": 0},
            {"field": "health.status", "op": "eq", "value": "green"},
            {"field": "health.tickets", "op": "gte", "value": 0},
            {"field": "health.change_30d", "op": "gte", "value": 0},
        ]
    }
    values = account_rule_values(Account.objects.get(pk=first.pk), rule=rule, today=TODAY)
    explained = explain_rule(rule, values, today=TODAY)
    actual = [leaf["actual"] for leaf in explained["all"]]
    assert actual == [100, "green", "100.00", 60]  # 100 now, 40 thirty-five days ago
    assert explained["matched"] is True
    values = account_rule_values(Account.objects.get(pk=never.pk), rule=rule, today=TODAY)
    assert [values[name] for name in ("health.score", "health.status")] == [None, None]


def test_a_segment_on_health_and_one_ranked_by_score(scored):
    first, second, third, _ = scored
    red = published("Health: red", {"field": "health.status", "op": "eq", "value": "red"})
    top = published("Healthiest", {"all": []}, rank_by="health.score", rank_limit=2)
    recompute(red)
    recompute(top)
    assert member_ids(red) == {third.pk}
    assert member_ids(top) == {first.pk, second.pk}
    assert rank_order_by("health.tickets", today=TODAY)


def test_unknown_health_fields_and_wrong_values_are_refused_with_the_path(scored):
    with pytest.raises(RuleValidationError) as error:
        validate_rule({"all": [{"field": "health.nope", "op": "gt", "value": 1}]})
    assert error.value.errors[0].path == "all[0].field"
    with pytest.raises(RuleValidationError) as error:
        validate_rule({"field": "health.status", "op": "eq", "value": "purple"})
    assert error.value.errors[0].path == "value"


def test_the_editor_lists_the_health_fields(scored):
    schema = rule_schema(on_demand=True)
    assert {"health.score", "health.status", "health.change_30d", "health.tickets"} <= set(
        schema["fields"]
    )
    assert schema["choices"]["health.status"] == ["red", "yellow", "green"]

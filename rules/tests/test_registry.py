"""The field registry: apps add rule fields without touching the engine, the engine imports
no app, and the registered definitions drive validation, the compiler, the evaluator,
ranking and the editor's schema alike."""

import ast
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from customers.models import MONTHS_PER_YEAR, Account, Contract, ContractStatus
from rules import (
    OPERATORS,
    OPERATORS_BY_TYPE,
    Column,
    Computed,
    RuleField,
    RuleValidationError,
    account_rule_values,
    evaluate_rule,
    rank_order_by,
    registry,
    rule_field_names,
    rule_queryset,
    rule_schema,
    validate_rule,
)
from rules.registry import AttributeSpec, FieldRegistry
from rules.vocabulary import CHOICE, INTEGER, TYPES

TODAY = date(2026, 11, 22)
ENGINE = Path(__file__).resolve().parents[1] / "rules"
APPS = ("customers", "segments", "playbooks", "workspace", "demo", "usage", "health")


def _active_contracts(today: date) -> Coalesce:
    counted = (
        Contract.objects.filter(account=OuterRef("pk"), status=ContractStatus.ACTIVE)
        .order_by()
        .values("account")
        .annotate(total=Count("id"))
        .values("total")
    )
    return Coalesce(Subquery(counted), Value(0))


def _read_active_contracts(account: object, today: date) -> int:
    return account.contracts.filter(status=ContractStatus.ACTIVE).count()  # type: ignore[attr-defined]


CONTRACT_COUNT = RuleField(
    "contract_count",
    INTEGER,
    Computed("rule_contract_count", _active_contracts, _read_active_contracts),
    label="Active contracts",
    app="tests",
)


@pytest.fixture
def contract_count_field():
    registry.register(CONTRACT_COUNT)
    yield CONTRACT_COUNT
    registry.unregister(CONTRACT_COUNT.name)


def test_the_engine_imports_no_app():
    # given every module of the rule engine
    imported = set()
    for module in ENGINE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    # then none of them is an app of this project
    assert not imported & set(APPS)


def test_customers_registers_the_design_fields():
    fields = registry.fields()
    assert fields["arr"].app == "customers" and fields["arr"].type == "money"
    assert fields["mrr"].source == Column("arr", divide_by=MONTHS_PER_YEAR)
    assert registry.get("traits.tier", {"tier": AttributeSpec("tier", "integer")}).type == (
        "integer"
    )
    assert registry.get("traits.tier") is None


@pytest.mark.django_db
def test_a_field_backed_by_an_aggregate_subquery_works_everywhere(contract_count_field):
    # given two accounts, one with two active contracts and one with none
    busy = Account.objects.create(name="Busy", external_id="busy")
    Account.objects.create(name="Idle", external_id="idle")
    for year in (2025, 2026):
        Contract.objects.create(
            account=busy,
            start_date=date(year, 1, 1),
            end_date=date(year + 1, 1, 1),
            arr=Decimal("1000"),
        )
    rule = {"field": "contract_count", "op": "gte", "value": 2}

    # when the rule is validated, compiled and evaluated
    validate_rule(rule)
    matched = set(rule_queryset(rule, today=TODAY).values_list("name", flat=True))
    values = {a.name: account_rule_values(a, today=TODAY) for a in Account.objects.all()}
    ranked = Account.objects.order_by(*rank_order_by("contract_count", today=TODAY))

    # then SQL and memory agree, and ranking orders by the computed value
    assert matched == {"Busy"}
    assert values["Busy"]["contract_count"] == 2 and values["Idle"]["contract_count"] == 0
    assert {n for n, v in values.items() if evaluate_rule(rule, v, today=TODAY)} == matched
    assert [a.name for a in ranked] == ["Busy", "Idle"]


def test_choices_from_a_callable_are_read_when_a_rule_is_checked():
    # given a choice field whose values live outside the code (a picklist table)
    values = ["Technology"]
    field = RuleField("sector", CHOICE, Column("industry"), choices=lambda: values)
    registry.register(field)
    try:
        rule = {"field": "sector", "op": "eq", "value": "Fintech"}
        with pytest.raises(RuleValidationError, match="unknown choice"):
            validate_rule(rule)
        # when a value is added to the table
        values.append("Fintech")
        # then the next check accepts it, with no new registration
        validate_rule(rule)
    finally:
        registry.unregister("sector")


def test_registering_the_same_name_twice_is_an_error():
    fresh = FieldRegistry()
    fresh.register(RuleField("size", INTEGER, Column("employees")))
    with pytest.raises(ValueError, match="already registered"):
        fresh.register(RuleField("size", INTEGER, Column("open_tickets")))
    with pytest.raises(ValueError, match="unknown type"):
        fresh.register(RuleField("odd", "colour", Column("plan")))


def test_the_editor_schema_comes_from_the_registry():
    schema = rule_schema({"tier": AttributeSpec("tier", "integer")})
    assert schema["fields"]["arr"] == {"type": "money", "label": "ARR"}
    assert schema["fields"]["traits.tier"]["type"] == "integer"
    assert schema["operators"] == {kind: list(ops) for kind, ops in OPERATORS_BY_TYPE.items()}
    assert schema["operator_labels"]["within_next_days"]["menu_label"] == ("within the next N days")
    assert "plan" in schema["choices"] and "arr" in schema["rankable"]
    assert "traits.tier" in schema["rankable"] and "name" not in schema["rankable"]


def test_every_operator_of_every_type_has_a_label():
    assert set(TYPES) == set(OPERATORS_BY_TYPE)
    assert {op for ops in OPERATORS_BY_TYPE.values() for op in ops} == set(OPERATORS)


class _CountingFamily:
    """An on-demand family (as if it read a table): it counts how often it is asked."""

    prefix = "probe."
    unknown_message = "unknown probe"
    on_demand = True

    def __init__(self) -> None:
        self.listed = 0

    def _field(self, key: str) -> RuleField:
        return RuleField(self.prefix + key, INTEGER, Column("employees"))

    def resolve(self, key: str, attributes) -> RuleField | None:
        return self._field(key) if key in ("a", "b") else None

    def fields(self, attributes):
        self.listed += 1
        return [self._field("a"), self._field("b")]


def test_an_on_demand_family_is_listed_only_when_asked_and_resolved_by_name():
    fresh, family = FieldRegistry(), _CountingFamily()
    fresh.register(RuleField("size", INTEGER, Column("employees")))
    fresh.register_family(family)
    # listing without on_demand does not ask the family
    assert [f.name for f in fresh.all_fields()] == ["size"]
    assert family.listed == 0
    assert [f.name for f in fresh.all_fields(on_demand=True)] == ["size", "probe.a", "probe.b"]
    # by name: only known names of on-demand families, each once
    names = ["size", "probe.b", "probe.zz", "probe.b", "traits.x"]
    assert [f.name for f in fresh.on_demand_fields(names)] == ["probe.b"]


def test_rule_field_names_reads_every_leaf_of_a_raw_rule():
    rule = {
        "all": [
            {"field": "arr", "op": "gt", "value": 1},
            {"not": {"any": [{"field": "usage.logins.sum_7d", "op": "is_null"}, "junk"]}},
        ]
    }
    assert sorted(rule_field_names(rule)) == ["arr", "usage.logins.sum_7d"]
    assert rule_field_names("not a rule") == []

"""Picklists (DESIGN 10): stored casing wins, unknown values added for review or refused
naming the field and the allowed values, merge rewriting accounts set-based, refusal while
a published rule uses a value, the migration of today's values, and the API."""

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cs_platform.db import dialect
from customers import picklists, services
from customers.bulk_upsert import accounts_bulk_upsert
from customers.models import Account, PendingEvaluation, Picklist, PicklistValue
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory
from rules import RuleValidationError, validate_rule
from segments.tests.engine_fixtures import published

pytestmark = pytest.mark.django_db


def values_of(field: str) -> list[str]:
    return list(
        PicklistValue.objects.filter(picklist__field=field)
        .order_by("order", "value")
        .values_list("value", flat=True)
    )


# --- initial values and the migration ---------------------------------------------------------


def test_the_initial_values_are_the_former_built_in_keys_with_their_labels():
    assert values_of("plan") == ["free", "starter", "pro", "enterprise"]
    assert values_of("region") == ["NA", "EMEA", "APAC", "LATAM"]
    assert PicklistValue.objects.get(picklist__field="industry", value="finance").label == (
        "Financial services"
    )
    accepting = set(Picklist.objects.filter(accept_new_values=True).values_list("field", flat=True))
    assert accepting == {"industry", "plan"}


def test_the_migration_keeps_every_account_value():
    # Given accounts holding built-in keys, a casing variant and a value no list knows, and
    # no picklists yet
    kept = AccountFactory(plan="pro", industry="finance", region="EMEA")
    variant = AccountFactory(region="emea", plan=None)
    stranger = AccountFactory(industry="Aerospace", plan="legacy")
    Picklist.objects.all().delete()
    migration = importlib.import_module("customers.migrations.0008_picklists_initial_values")
    # When the data migration runs
    migration.seed_picklists(apps, None)
    # Then no account lost its value, the casing variant takes the stored casing, and the
    # unknown values are added for review
    for account in (kept, variant, stranger):
        account.refresh_from_db()
    assert (kept.plan, kept.industry, kept.region) == ("pro", "finance", "EMEA")
    assert variant.region == "EMEA"
    assert (stranger.industry, stranger.plan) == ("Aerospace", "legacy")
    aerospace = PicklistValue.objects.get(picklist__field="industry", value="Aerospace")
    assert aerospace.needs_review
    assert "legacy" in values_of("plan")
    assert values_of("region") == ["NA", "EMEA", "APAC", "LATAM"]


# --- casing and unknown values -----------------------------------------------------------------


def test_a_write_in_another_casing_stores_the_stored_casing():
    PicklistValue.objects.create(
        picklist=Picklist.objects.get(field="industry"), value="Technology", order=99
    )
    account = services.account_create(name="A", external_id="a-1", industry="technology")
    assert Account.objects.get(pk=account.pk).industry == "Technology"
    # and the other way round: a stored lower-case key wins over an upper-case write
    services.account_update(account=account, data={"plan": "PRO"})
    assert Account.objects.get(pk=account.pk).plan == "pro"


def test_an_unknown_value_is_added_for_review_when_the_picklist_accepts_new_values():
    account = services.account_create(name="A", external_id="a-1", industry="Biotech")
    assert Account.objects.get(pk=account.pk).industry == "Biotech"
    added = PicklistValue.objects.get(picklist__field="industry", value="Biotech")
    assert added.needs_review and added.is_active


def test_an_unknown_value_is_refused_naming_the_field_and_the_allowed_values():
    with pytest.raises(ValidationError) as caught:
        services.account_create(name="A", external_id="a-1", region="Mars")
    message = caught.value.message_dict["region"][0]
    assert "region" in message and "NA, EMEA, APAC, LATAM" in message
    assert not Account.objects.exists()
    assert "Mars" not in values_of("region")


def test_the_bulk_upsert_checks_picklists_in_memory_and_adds_new_values_once():
    rows = [
        {"external_id": "b-1", "name": "B1", "industry": "Fintech", "region": "emea"},
        {"external_id": "b-2", "name": "B2", "industry": "FINTECH", "region": "Moon"},
        {"external_id": "b-3", "name": "B3", "industry": "fintech"},
    ]
    result = accounts_bulk_upsert(rows=rows)
    assert [error.index for error in result.errors] == [1]
    assert "region" in result.errors[0].errors
    stored = dict(Account.objects.values_list("external_id", "industry"))
    assert stored == {"b-1": "Fintech", "b-3": "Fintech"}
    assert Account.objects.get(external_id="b-1").region == "EMEA"
    assert values_of("industry").count("Fintech") == 1


def test_an_atomic_bulk_upsert_with_a_refused_value_adds_no_value():
    rows = [
        {"external_id": "b-1", "name": "B1", "industry": "Quantum"},
        {"external_id": "b-2", "name": "B2", "region": "Moon"},
    ]
    result = accounts_bulk_upsert(rows=rows, atomic=True)
    assert result.errors and not result.written
    assert "Quantum" not in values_of("industry")


def test_rules_accept_only_picklist_values_read_now():
    with pytest.raises(RuleValidationError) as caught:
        validate_rule({"field": "industry", "op": "eq", "value": "Technology"})
    assert "unknown choice" in str(caught.value)
    PicklistValue.objects.create(
        picklist=Picklist.objects.get(field="industry"), value="Technology"
    )
    validate_rule({"field": "industry", "op": "eq", "value": "Technology"})


# --- merge and refusal while in use ------------------------------------------------------------


def test_merge_rewrites_the_accounts_and_marks_them_changed():
    industry = Picklist.objects.get(field="industry")
    PicklistValue.objects.create(picklist=industry, value="Tech", order=20)
    PicklistValue.objects.create(picklist=industry, value="Technology", order=21)
    moved = [AccountFactory(industry="Tech") for _ in range(3)]
    untouched = AccountFactory(industry="finance")
    PendingEvaluation.objects.all().delete()
    rewritten = picklists.picklist_values_merge(
        picklist=industry, from_value="tech", into_value="TECHNOLOGY"
    )
    assert rewritten == 3
    assert set(Account.objects.filter(industry="Technology").values_list("pk", flat=True)) == {
        a.pk for a in moved
    }
    assert Account.objects.get(pk=untouched.pk).industry == "finance"
    assert set(PendingEvaluation.objects.values_list("account_id", flat=True)) == {
        a.pk for a in moved
    }
    assert "Tech" not in values_of("industry")


def test_merge_finds_the_holders_once_where_the_database_allows_writes_in_with():
    # given accounts holding a value, and a picklist with both values
    industry = Picklist.objects.get(field="industry")
    PicklistValue.objects.create(picklist=industry, value="Tech", order=20)
    PicklistValue.objects.create(picklist=industry, value="Technology", order=21)
    moved = [AccountFactory(industry="Tech") for _ in range(3)]
    PendingEvaluation.objects.all().delete()
    # when merged
    with CaptureQueriesContext(connection) as queries:
        picklists.picklist_values_merge(
            picklist=industry, from_value="Tech", into_value="Technology"
        )
    # then the rewrite and the marks are one statement (two where WITH cannot write)
    account_table = Account._meta.db_table
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if account_table in q["sql"]
        and q["sql"].lstrip().upper().startswith(("WITH", "UPDATE", "INSERT"))
    ]
    assert len(writes) == (1 if dialect().data_modifying_ctes else 2), writes
    assert set(PendingEvaluation.objects.values_list("account_id", flat=True)) == {
        a.pk for a in moved
    }


def test_a_value_a_published_rule_uses_cannot_be_merged_deleted_or_renamed():
    industry = Picklist.objects.get(field="industry")
    AccountFactory(industry="media")
    published("Media accounts", {"field": "industry", "op": "in", "value": ["media", "retail"]})
    media = PicklistValue.objects.get(picklist=industry, value="media")
    with pytest.raises(ValidationError) as merge:
        picklists.picklist_values_merge(picklist=industry, from_value="media", into_value="retail")
    assert "Media accounts" in merge.value.message_dict["from"][0]
    with pytest.raises(ValidationError) as delete:
        picklists.picklist_value_delete(item=media)
    assert "Media accounts" in delete.value.message_dict["value"][0]
    with pytest.raises(ValidationError):
        picklists.picklist_value_update(item=media, data={"value": "Media"})
    assert Account.objects.filter(industry="media").count() == 1
    assert "media" in values_of("industry")
    # a value no rule uses can still be merged away
    picklists.picklist_values_merge(picklist=industry, from_value="logistics", into_value="media")


def test_a_value_accounts_hold_is_not_deleted():
    AccountFactory(region="APAC")
    apac = PicklistValue.objects.get(picklist__field="region", value="APAC")
    with pytest.raises(ValidationError) as caught:
        picklists.picklist_value_delete(item=apac)
    assert "merge" in caught.value.message_dict["value"][0]


# --- API -----------------------------------------------------------------------------------------


def test_api_lists_picklists_in_the_contract_shape(csm):
    response = api_client(csm).get("/api/picklists/")
    assert response.status_code == 200
    plan = next(item for item in response.json() if item["field"] == "plan")
    assert plan["accept_new_values"] is True
    assert [v["value"] for v in plan["values"]] == ["free", "starter", "pro", "enterprise"]
    assert set(plan["values"][0]) == {"id", "value", "label", "order", "is_active"}


def test_api_adds_changes_and_merges_values(manager, csm):
    client = api_client(manager)
    created = client.post("/api/picklists/region/values/", {"value": "Oceania"}, format="json")
    assert created.status_code == 201, created.json()
    duplicate = client.post("/api/picklists/region/values/", {"value": "oceania"}, format="json")
    assert duplicate.status_code == 400 and "value" in duplicate.json()
    value_id = created.json()["id"]
    patched = client.patch(
        f"/api/picklists/region/values/{value_id}/", {"label": "Oceania", "order": 9}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["order"] == 9
    account = AccountFactory(region="Oceania")
    merged = client.post(
        "/api/picklists/region/merge/", {"from": "Oceania", "into": "apac"}, format="json"
    )
    assert merged.status_code == 200, merged.json()
    assert merged.json() == {"field": "region", "from": "Oceania", "into": "APAC", "accounts": 1}
    assert Account.objects.get(pk=account.pk).region == "APAC"
    # CSMs read, managers write; an unknown picklist is a 404
    assert api_client(csm).post("/api/picklists/region/values/", {"value": "X"}).status_code == 403
    assert client.post("/api/picklists/colour/values/", {"value": "X"}).status_code == 404


def test_api_account_write_with_a_refused_value_is_a_400_naming_the_field(manager):
    response = api_client(manager).post(
        "/api/accounts/",
        {"name": "A", "external_id": "a-1", "lifecycle_stage": "Evangelist"},
        format="json",
    )
    assert response.status_code == 400
    assert "allowed values: trial, onboarding" in response.json()["lifecycle_stage"][0]
    assert not Account.objects.exists()


def test_api_account_filter_reads_the_picklist(csm):
    PicklistValue.objects.create(picklist=Picklist.objects.get(field="plan"), value="Scale")
    AccountFactory(plan="Scale", external_id="s-1")
    AccountFactory(plan="pro", external_id="p-1")
    response = api_client(csm).get("/api/accounts/?plan=Scale")
    assert response.status_code == 200
    assert [row["external_id"] for row in response.json()["results"]] == ["s-1"]
    assert api_client(csm).get("/api/accounts/?plan=Nope").status_code == 400

"""CRM imports through the API with real export files: profiles, dry run, the import,
re-import, keep-if-blank, value maps, owners, encodings and every bad-input case (a clear
error, nothing written). The job runs in-process (eager) at the upload's commit."""

import csv
import importlib
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile

from customers.models import (
    Account,
    AttributeDefinition,
    Contract,
    CSMAssignment,
    ImportJob,
    Picklist,
    PicklistValue,
)
from customers.selectors import account_ids_pending_evaluation
from customers.signals import accounts_changed
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
HUBSPOT = (SAMPLES / "hubspot-companies.csv").read_bytes()
SALESFORCE = (SAMPLES / "salesforce-accounts.csv").read_bytes()
HUBSPOT_HEADER = (
    "Record ID,Company name,Company owner,Industry,Country/Region,Number of Employees,"
    "Lifecycle Stage,Became a Customer Date\n"
)


@pytest.fixture(autouse=True)
def builtin_profiles(db) -> None:
    """What migration 0010 creates (a transactional test's flush removes it)."""
    migration = importlib.import_module("customers.migrations.0010_builtin_import_profiles")
    migration.create_profiles(apps, None)


@pytest.fixture
def owners(db) -> dict[str, Any]:
    return {
        "anna": UserFactory(username="anna", email="anna.keller@example.com"),
        "bruno": UserFactory(username="bruno", email="bruno.silva@example.com"),
    }


@pytest.fixture
def client(manager):
    return api_client(manager)


def upload(
    client: Any,
    content: bytes,
    *,
    profile: str = "hubspot-companies",
    dry_run: str = "false",
    skip_invalid: str = "false",
    name: str = "export.csv",
) -> Any:
    return client.post(
        "/api/imports/",
        {
            "file": SimpleUploadedFile(name, content, content_type="text/csv"),
            "profile": profile,
            "dry_run": dry_run,
            "skip_invalid": skip_invalid,
        },
        format="multipart",
    )


@pytest.fixture
def run(client, eager_tasks, django_capture_on_commit_callbacks):
    """Upload, let the job run at commit, and return the job as GET /api/imports/{id}/."""

    def _run(content: bytes, **options: str) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(client, content, **options)
        assert response.status_code == 202, response.content
        assert set(response.json()) == {"id"}
        job = client.get(f"/api/imports/{response.json()['id']}/")
        assert job.status_code == 200
        return job.json()

    return _run


def test_profiles_list_the_builtin_hubspot_and_salesforce_profiles(client):
    body = client.get("/api/import-profiles/").json()
    by_name = {profile["name"]: profile for profile in body}
    assert {"hubspot-companies", "salesforce-accounts"} <= set(by_name)
    hubspot = {c["column"]: c["target"] for c in by_name["hubspot-companies"]["columns"]}
    assert hubspot["Record ID"] == "external_id"
    assert hubspot["Company owner"] == "owner"
    salesforce = {c["column"]: c["target"] for c in by_name["salesforce-accounts"]["columns"]}
    assert salesforce["Account ID"] == "external_id"
    assert salesforce["Billing Country"] == "country"


def test_hubspot_dry_run_reports_and_writes_nothing(run, owners):
    job = run(HUBSPOT, dry_run="true")
    assert job["status"] == "done"
    assert (job["rows_total"], job["rows_done"]) == (6, 6)
    assert (job["created"], job["updated"], job["unchanged"], job["rejected"]) == (6, 0, 0, 0)
    assert job["written"] is False
    first = job["changes"][0]
    assert first["key"] == "5301002101" and first["action"] == "created"
    assert first["fields"]["industry"] == {"from": None, "to": "Computer Software"}
    assert not Account.objects.exists()
    assert not CSMAssignment.objects.exists()


def test_hubspot_import_writes_mapped_accounts_owners_and_marks_them(run, owners):
    announced: list[int] = []

    def receiver(sender: Any, account_ids: list[int], **kwargs: Any) -> None:
        announced.extend(account_ids)

    accounts_changed.connect(receiver, dispatch_uid="test_imports_announced")
    try:
        job = run(HUBSPOT)
    finally:
        accounts_changed.disconnect(dispatch_uid="test_imports_announced")
    assert job["status"] == "done", job["message"]
    assert (job["created"], job["rejected"]) == (6, 0)
    northwind = Account.objects.get(external_id="5301002101")
    assert northwind.name == "Northwind Traders"
    assert northwind.industry == "Computer Software"  # kept as HubSpot writes it
    assert northwind.lifecycle_stage == "adopting"  # value map: Customer
    assert northwind.employees == 420
    assert str(northwind.customer_since) == "2023-05-02"
    assert northwind.owner == owners["anna"]
    assert Account.objects.get(external_id="5301002104").owner is None
    # Segments re-evaluate the written accounts (the sweep ran eagerly and took the marks).
    assert set(announced) == set(Account.objects.values_list("id", flat=True))
    assert not account_ids_pending_evaluation().exists()


def test_reimport_of_the_same_file_writes_nothing(run, owners):
    run(HUBSPOT)
    before = dict(Account.objects.values_list("external_id", "updated_at"))
    job = run(HUBSPOT)
    assert (job["created"], job["updated"], job["unchanged"]) == (0, 0, 6)
    assert job["written"] is False
    assert dict(Account.objects.values_list("external_id", "updated_at")) == before


def test_salesforce_import_reads_us_dates_and_maps_types(run, owners):
    job = run(SALESFORCE, profile="salesforce-accounts")
    assert job["status"] == "done", job
    assert job["created"] == 4
    kestrel = Account.objects.get(external_id="0015g00000XyZ2AAAA")
    assert (kestrel.industry, kestrel.lifecycle_stage) == ("Insurance", "adopting")
    assert str(kestrel.customer_since) == "2022-09-15"
    assert kestrel.owner == owners["bruno"]


def test_blank_cells_keep_existing_values_by_default(run, owners):
    AccountFactory(external_id="5301002104", name="Lumen", employees=90, country="Ireland")
    content = HUBSPOT_HEADER.encode() + b"5301002104,Lumen Learning Co,,,,,,\n"
    job = run(content)
    assert (job["updated"], job["rejected"]) == (1, 0)
    lumen = Account.objects.get(external_id="5301002104")
    assert (lumen.name, lumen.employees, lumen.country) == ("Lumen Learning Co", 90, "Ireland")


def test_a_profile_column_that_clears_on_blank_clears(client, run):
    AccountFactory(external_id="x-1", name="X", country="Ireland")
    response = client.post(
        "/api/import-profiles/",
        {
            "name": "clearing",
            "label": "Clearing",
            "columns": [
                {"column": "Id", "target": "external_id"},
                {"column": "Country", "target": "country", "keep_if_blank": False},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    job = run(b"Id,Country\nx-1,\n", profile="clearing")
    assert job["updated"] == 1
    assert Account.objects.get(external_id="x-1").country is None


def test_profile_with_traits_and_contract_fields(client, run):
    AttributeDefinition.objects.create(key="tier", label="Tier", type="text")
    columns = [
        {"column": "Id", "target": "external_id"},
        {"column": "Name", "target": "name"},
        {"column": "Tier", "target": "traits.tier", "values": {"G": "gold"}},
        {"column": "Start", "target": "contract.start_date"},
        {"column": "End", "target": "contract.end_date"},
        {"column": "ARR", "target": "contract.arr"},
    ]
    response = client.post(
        "/api/import-profiles/",
        {"name": "deals", "label": "Deals", "columns": columns, "date_format": "%d.%m.%Y"},
        format="json",
    )
    assert response.status_code == 201, response.content
    job = run(
        b'Id,Name,Tier,Start,End,ARR\nd-1,Delta,g,01.01.2026,31.12.2026,"12,000.50"\n',
        profile="deals",
    )
    assert job["status"] == "done", job
    account = Account.objects.get(external_id="d-1")
    assert account.traits == {"tier": "gold"}
    contract = Contract.objects.get(account=account)
    assert contract.arr == Decimal("12000.50")
    assert account.arr == Decimal("12000.50")


def test_reimport_compares_values_as_stored_not_as_written(client, run):
    # given an account, and a profile reading its industry, date, money and count columns
    AccountFactory(
        external_id="s-1", industry="software", customer_since="2022-09-15",
        cost_to_serve=Decimal("1200.00"), employees=50,
    )  # fmt: skip
    columns = [
        {"column": "Id", "target": "external_id"},
        {"column": "Industry", "target": "industry"},
        {"column": "Since", "target": "customer_since"},
        {"column": "Cost", "target": "cost_to_serve"},
        {"column": "Staff", "target": "employees"},
    ]
    response = client.post(
        "/api/import-profiles/", {"name": "same", "label": "Same", "columns": columns},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    header = b"Id,Industry,Since,Cost,Staff\n"
    # when the file holds the stored values written otherwise: unchanged
    job = run(header + b"s-1,SOFTWARE,2022-09-15,1200,50\n", profile="same")
    assert (job["updated"], job["unchanged"], job["written"]) == (0, 1, False)
    # when one value differs: only that one is a change
    job = run(header + b"s-1,software,2022-09-15,1200.5,50\n", profile="same")
    assert job["updated"] == 1
    assert job["changes"][0]["fields"] == {"cost_to_serve": {"from": "1200.00", "to": "1200.5"}}
    assert Account.objects.get(external_id="s-1").cost_to_serve == Decimal("1200.50")


def test_profile_create_names_the_bad_mapping(client):
    response = client.post(
        "/api/import-profiles/",
        {"name": "bad", "label": "Bad", "columns": [{"column": "Id", "target": "colour"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "'Id'" in str(response.json()["columns"])


def test_a_csm_cannot_import(csm):
    response = upload(api_client(csm), HUBSPOT)
    assert response.status_code == 403


# --- bad input: a clear error, nothing written -----------------------------------------------


def test_missing_key_column_fails_naming_it(run):
    job = run(b"Company name,Industry\nAcme,Retail\n")
    assert job["status"] == "failed"
    assert job["errors"][0]["column"] == "Record ID"
    assert "Record ID" in job["message"] and "Nothing was written" in job["message"]
    assert not Account.objects.exists()


def test_duplicate_keys_name_both_rows_and_nothing_is_written(run, owners):
    content = HUBSPOT_HEADER.encode() + b"k-1,One,,,,,,\nk-2,Two,,,,,,\nk-1,Again,,,,,,\n"
    job = run(content)
    assert job["status"] == "failed"
    assert job["rejected"] == 1
    assert job["errors"] == [
        {
            "row": 4,
            "column": "Record ID",
            "message": "Duplicate key 'k-1' in the file: row 4 repeats row 2.",
        }
    ]
    assert not Account.objects.exists()


def test_unknown_owner_is_rejected_and_nothing_is_written(run, owners):
    content = HUBSPOT_HEADER.encode() + b"k-1,One,nobody@example.com,,,,,\nk-2,Two,anna,,,,,\n"
    job = run(content)
    assert job["status"] == "failed"
    assert job["errors"][0]["row"] == 2
    assert job["errors"][0]["column"] == "Company owner"
    assert "nobody@example.com" in job["errors"][0]["message"]
    assert not Account.objects.exists()


def test_owner_is_matched_by_full_name_as_crm_exports_write_it(run, owners):
    owners["anna"].first_name, owners["anna"].last_name = "Anna", "Keller"
    owners["anna"].save()
    content = HUBSPOT_HEADER.encode() + b"k-1,One,anna  KELLER,,,,,\n"
    job = run(content)
    assert job["status"] == "done", job
    assert Account.objects.get(external_id="k-1").owner == owners["anna"]


def test_reimport_with_a_new_owner_closes_the_old_assignment_and_opens_one(run, owners):
    # Given accounts imported with their owners (one without)
    run(HUBSPOT_HEADER.encode() + b"k-1,One,anna,,,,,\nk-2,Two,anna,,,,,\nk-3,Three,,,,,,\n")
    first = CSMAssignment.objects.get(account__external_id="k-1")
    # When the same accounts come again: k-1 to bruno, k-2 unchanged, k-3 given to bruno
    job = run(
        HUBSPOT_HEADER.encode() + b"k-1,One,bruno,,,,,\nk-2,Two,anna,,,,,\nk-3,Three,bruno,,,,,\n"
    )
    # Then only the two changed accounts are written, each with one current owner
    assert job["status"] == "done", job
    assert (job["updated"], job["unchanged"]) == (2, 1)
    first.refresh_from_db()
    assert first.ended_at is not None
    current = dict(
        CSMAssignment.objects.filter(ended_at__isnull=True).values_list(
            "account__external_id", "user__username"
        )
    )
    assert current == {"k-1": "bruno", "k-2": "anna", "k-3": "bruno"}
    owned = dict(Account.objects.values_list("external_id", "owner__username"))
    assert owned == {"k-1": "bruno", "k-2": "anna", "k-3": "bruno"}
    assert CSMAssignment.objects.count() == 4


def test_owner_full_name_shared_by_two_users_is_ambiguous(run, owners):
    for user in owners.values():
        user.first_name, user.last_name = "Sam", "Lee"
        user.save()
    job = run(HUBSPOT_HEADER.encode() + b"k-1,One,Sam Lee,,,,,\n")
    assert job["status"] == "failed"
    assert (
        job["errors"][0]["message"] == "'Sam Lee' matches several users; use a username or e-mail."
    )
    assert not Account.objects.exists()


def test_skip_invalid_writes_valid_rows_and_offers_rejected_csv(client, run, owners):
    content = (
        HUBSPOT_HEADER.encode()
        + b"k-1,One,,,,12,,\n"
        + b'k-2,=HYPERLINK("http://evil"),,,,many,,\n'
        + b"k-3,Three,,,,,,2024-13-45 00:00\n"
    )
    job = run(content, skip_invalid="true")
    assert job["status"] == "done"
    assert (job["created"], job["rejected"]) == (1, 2)
    assert list(Account.objects.values_list("external_id", flat=True)) == ["k-1"]
    columns = {(e["row"], e["column"]) for e in job["errors"]}
    assert columns == {(3, "Number of Employees"), (4, "Became a Customer Date")}
    response = client.get(job["rejected_csv"])
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    lines = text.splitlines()
    assert lines[0].endswith(",error")
    assert "'=HYPERLINK" in lines[1]  # formula cells are escaped
    assert "Number of Employees: Expected a whole number" in lines[1]


def test_all_or_nothing_by_default_with_a_rejected_row(run):
    content = HUBSPOT_HEADER.encode() + b"k-1,One,,,,12,,\nk-2,,,,,,,\n"
    job = run(content)
    assert job["status"] == "failed"
    assert job["errors"] == [
        {"row": 3, "column": "Company name", "message": "This field is required."}
    ]
    assert "nothing was written" in job["message"]
    assert not Account.objects.exists()


def test_oversized_file_is_refused_before_anything_is_stored(client, settings):
    settings.CRM_IMPORT_MAX_BYTES = 100
    response = upload(client, HUBSPOT)
    assert response.status_code == 400
    assert "largest file accepted" in response.json()["file"][0]
    assert not ImportJob.objects.exists()


def test_unknown_profile_and_bad_booleans_are_400s(client):
    response = upload(client, HUBSPOT, profile="pipedrive")
    assert response.status_code == 400
    assert "pipedrive" in response.json()["profile"][0]
    response = upload(client, HUBSPOT, dry_run="maybe")
    assert response.status_code == 400 and "dry_run" in response.json()


# --- encodings ----------------------------------------------------------------------------------


def test_utf8_with_bom(run):
    job = run("\ufeff".encode() + HUBSPOT_HEADER.encode() + "k-1,Montréal Café,,,,,,\n".encode())
    assert job["status"] == "done", job
    assert job["encoding"] == "utf-8-sig"
    assert Account.objects.get(external_id="k-1").name == "Montréal Café"


def test_windows_1252_is_detected(run):
    content = (HUBSPOT_HEADER + "k-1,Société Générale – Zürich,,,,,,\n").encode("cp1252")
    job = run(content)
    assert job["status"] == "done", job
    assert job["encoding"] == "cp1252"
    assert Account.objects.get(external_id="k-1").name == "Société Générale – Zürich"


def test_mixed_encodings_are_refused_clearly(run):
    content = (
        HUBSPOT_HEADER.encode()
        + "k-1,Café,,,,,,\n".encode()
        + "k-2,Caf\xe9,,,,,,\n".encode("latin-1")
    )
    job = run(content)
    assert job["status"] == "failed"
    assert "mixes UTF-8" in job["message"]
    assert not Account.objects.exists()


def test_undecodable_bytes_are_refused_clearly(run):
    content = HUBSPOT_HEADER.encode() + b"k-1,Bad \x81\x8d byte,,,,,,\n"
    job = run(content)
    assert job["status"] == "failed"
    assert "neither UTF-8 nor Windows-1252" in job["message"]
    assert not Account.objects.exists()


# --- picklists ----------------------------------------------------------------------------------


def test_new_industry_is_added_for_review_on_import_but_not_on_dry_run(run, owners):
    content = HUBSPOT_HEADER.encode() + b"k-1,One,,Quantum Widgets,,,,\n"
    job = run(content, dry_run="true")
    assert (job["status"], job["created"]) == ("done", 1)
    assert not PicklistValue.objects.filter(value="Quantum Widgets").exists()
    job = run(content)
    assert job["status"] == "done", job
    added = PicklistValue.objects.get(picklist__field="industry", value="Quantum Widgets")
    assert added.needs_review


def test_picklist_value_keeps_the_stored_casing(run):
    content = HUBSPOT_HEADER.encode() + b"k-1,One,,SOFTWARE,,,,\n"
    run(content)
    assert Account.objects.get(external_id="k-1").industry == "software"


def test_a_value_outside_a_closed_picklist_is_a_rejected_row(run):
    Picklist.objects.filter(field="lifecycle_stage").update(accept_new_values=False)
    content = HUBSPOT_HEADER.encode() + b"k-1,One,,,,,customer,\nk-2,Two,,,,,Other,\n"
    job = run(content)
    assert job["status"] == "failed"
    assert job["rejected"] == 1
    (error,) = job["errors"]
    assert (error["row"], error["column"]) == (3, "Lifecycle Stage")
    assert "'Other' is not a value of the lifecycle_stage picklist" in error["message"]
    assert not Account.objects.exists()


@pytest.mark.parametrize(
    "cell",
    ['=HYPERLINK("http://evil")', "+1+2", "-3+4", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"],
)
def test_rejected_rows_csv_escapes_every_formula_start(client, run, cell):
    # Given a rejected row holding a formula-like cell (quoted in the upload), and a
    # header column named like a formula
    quoted = '"' + cell.replace('"', '""') + '"'
    content = (
        HUBSPOT_HEADER.rstrip("\n").encode() + b",=cmd\n" + f"k-1,{quoted},,,,many,,,x\n".encode()
    )
    job = run(content, skip_invalid="true")
    assert job["rejected"] == 1
    response = client.get(job["rejected_csv"])
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    # Then the cell, the header's column and the error text are safe to open
    assert rows[0][-2:] == ["'=cmd", "error"]
    assert rows[1][1] == "'" + cell
    assert not rows[1][-1].startswith(("=", "+", "-", "@", "\t", "\r"))

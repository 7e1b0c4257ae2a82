"""``manage.py import_csv accounts|contracts FILE [--dry-run]``: the CSV import of the
admin upload, from the command line."""

import sys
from contextlib import nullcontext
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.csv_import import csv_import


class Command(BaseCommand):
    help = (
        "Import accounts (upsert by external_id) or contracts (by account_external_id and "
        "start_date) from a CSV file; invalid rows are reported by line and skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=["accounts", "contracts"])
        parser.add_argument("file", help="A UTF-8 CSV file with a header row ('-' for stdin).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row and report; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            with (
                nullcontext(sys.stdin)
                if path == "-"
                else open(path, newline="", encoding="utf-8-sig")
            ) as handle:
                report = csv_import(kind=options["kind"], file=handle, dry_run=options["dry_run"])
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        for error in report.errors:
            self.stderr.write(
                f"line {error.row}: {error.external_id or '-'}: {error.field}: {error.message}"
            )
        verb = ("would create", "would update") if report.dry_run else ("created", "updated")
        self.stdout.write(
            f"{report.kind}: {report.rows} rows, {verb[0]} {report.created}, "
            f"{verb[1]} {report.updated}, {len(report.errors)} errors"
            + (" (dry run: nothing written)" if report.dry_run else "")
        )
        if report.errors:
            raise CommandError(f"{len(report.errors)} errors")

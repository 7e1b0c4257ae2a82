"""``manage.py import_usage FILE``: load a CSV of daily values (account, metric, day,
value), all or nothing, through the same service as POST /api/usage/daily/."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage import ingest


class Command(BaseCommand):
    help = "Import daily usage from a CSV with the columns account, metric, day, value."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options) -> None:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error}") from error
        try:
            rows = ingest.rows_from_csv(text, ingest.DAILY_COLUMNS)
            result = ingest.usage_daily_ingest(rows=rows)
        except ValidationError as error:
            raise CommandError(f"nothing imported: {error.message_dict}") from error
        self.stdout.write(
            f"{result.rows} rows written; {result.changed_accounts} accounts changed."
        )

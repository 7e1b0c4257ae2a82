"""Rebuild the daily growth snapshots a segment is missing from its membership history."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from segments import engine
from segments.analytics import DEFAULT_GROWTH_DAYS
from segments.models import Segment


class Command(BaseCommand):
    help = (
        "Write one growth snapshot per day that has none, from each segment's membership "
        "events (members) and contract history (ARR), over the last --days days up to "
        "yesterday. Safe to run again: days with a snapshot are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("segments", nargs="*", help="segment ids or slugs (default: all)")
        parser.add_argument("--days", type=int, default=DEFAULT_GROWTH_DAYS)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1:
            raise CommandError("--days: give a number of days of 1 or more")
        segments = Segment.objects.all()
        if options["segments"]:
            wanted = options["segments"]
            ids = [int(v) for v in wanted if v.isdigit()]
            slugs = [v for v in wanted if not v.isdigit()]
            segments = Segment.objects.filter(pk__in=ids) | Segment.objects.filter(slug__in=slugs)
            if segments.count() != len(wanted):
                raise CommandError("segments: some ids or slugs do not exist")
        for segment in segments.order_by("pk"):
            result = engine.segment_snapshots_backfill(segment_id=segment.pk, days=options["days"])
            since = f" from {result.first_day}" if result.first_day else ""
            self.stdout.write(f"{segment.slug}: {result.days_written} days written{since}")

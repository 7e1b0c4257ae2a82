"""Recompute segment memberships now, in this process (no worker needed)."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from segments import engine
from segments.models import Segment


class Command(BaseCommand):
    help = (
        "Recompute the memberships of the given segments (ids or slugs), or of every "
        "active segment; --changed sweeps the accounts flagged for re-evaluation instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("segments", nargs="*", help="segment ids or slugs (default: all)")
        parser.add_argument(
            "--changed", action="store_true", help="only re-evaluate flagged accounts"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["changed"]:
            started = time.perf_counter()
            sweep = engine.segments_evaluate_changed_accounts(max_batches=10**9)
            # The sweep queued these for a worker; here, with no worker needed, at once
            # (the queued recompute then finds nothing to change).
            for segment_id in sweep.ranked_recomputed:
                run = engine.segment_recompute(segment_id=segment_id)
                sweep.entered += run.entered
                sweep.exited += run.exited
            self.stdout.write(
                f"{sweep.accounts} changed accounts in {sweep.batches} batches: "
                f"{sweep.entered} entered, {sweep.exited} exited "
                f"({time.perf_counter() - started:.2f} s)"
            )
            return
        segments = Segment.objects.filter(is_active=True).order_by("pk")
        if options["segments"]:
            wanted = options["segments"]
            ids = [int(v) for v in wanted if v.isdigit()]
            slugs = [v for v in wanted if not v.isdigit()]
            segments = Segment.objects.filter(pk__in=ids) | Segment.objects.filter(slug__in=slugs)
            if segments.count() != len(wanted):
                raise CommandError("segments: some ids or slugs do not exist")
        for segment in segments.order_by("priority", "pk"):
            started = time.perf_counter()
            result = engine.segment_recompute(segment_id=segment.pk)
            self.stdout.write(
                f"{segment.slug}: {result.status}, {result.member_count} members, "
                f"+{result.entered} -{result.exited} ({time.perf_counter() - started:.2f} s)"
            )

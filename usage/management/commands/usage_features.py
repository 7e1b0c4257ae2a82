"""``manage.py usage_features [--rebuild] [--metric KEY …]``: bring the usage window
values (what the ``usage.*`` rule fields read) up to today, as the day-change job does,
or rebuild them from the daily table (after rows were loaded by other means than
ingestion, or to repair)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage import features
from usage.models import UsageMetric


class Command(BaseCommand):
    help = "Slide the usage window values to today, or rebuild them (--rebuild)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="recompute them all")
        parser.add_argument("--metric", action="append", default=[], help="a metric key")

    def handle(self, *args, rebuild: bool, metric: list[str], **options) -> None:
        if metric and not rebuild:
            raise CommandError("--metric goes with --rebuild")
        if rebuild:
            ids = None
            if metric:
                found = dict(UsageMetric.objects.filter(key__in=metric).values_list("key", "pk"))
                unknown = sorted(set(metric) - set(found))
                if unknown:
                    raise CommandError(f"unknown metric(s): {', '.join(unknown)}")
                ids = list(found.values())
            written = features.usage_features_rebuild(metric_ids=ids)
            self.stdout.write(f"{written} (account, metric) rows rebuilt.")
            return
        for metric_id, done in features.usage_features_slide().items():
            self.stdout.write(f"metric {metric_id}: {done}")

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from playbooks.services import renewal_queue_rebuild, tasks_wake_snoozed


class Command(BaseCommand):
    help = "Rebuild the renewal queue and its renewal tasks now (a delta unless --full)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--today", type=date.fromisoformat, help="Build for this ISO date.")
        parser.add_argument("--full", action="store_true", help="Diff every contract.")

    def handle(self, *args: Any, **options: Any) -> None:
        build = renewal_queue_rebuild(today=options["today"], full=options["full"])
        woken = tasks_wake_snoozed(today=options["today"])
        seconds = (build.finished_at - build.started_at).total_seconds()
        self.stdout.write(
            f"Renewal queue for {build.built_for} ({'full' if build.full else 'delta'}, "
            f"{seconds:.2f} s): +{build.inserted} ~{build.updated} -{build.deleted} entries, "
            f"{build.tasks_created} tasks created, {build.tasks_reassigned} reassigned, "
            f"{build.tasks_closed} replaced by a tighter window's, "
            f"{woken} snoozed tasks reopened."
        )

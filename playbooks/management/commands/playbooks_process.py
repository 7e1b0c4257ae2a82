from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from playbooks.services import playbook_run_execute, playbooks_process_events


class Command(BaseCommand):
    help = "Create playbook runs for new membership events; --execute runs them here too."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--segment", type=int, help="Only playbooks of this segment id.")
        parser.add_argument(
            "--execute", action="store_true", help="Execute the new runs in this process."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = playbooks_process_events(segment_id=options["segment"])
        retrying = 0
        if options["execute"]:
            for run_id in result.run_ids:
                retrying += playbook_run_execute(run_id=run_id) is not None
        self.stdout.write(
            f"{result.runs_created} run(s) created, {result.runs_skipped} skipped"
            + (f", {retrying} waiting for a webhook retry" if options["execute"] else "")
            + ("; more events remain" if result.has_more else "")
            + "."
        )

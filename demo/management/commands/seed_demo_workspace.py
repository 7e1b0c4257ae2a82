"""``manage.py seed_demo_workspace``: demo segments, playbooks and the renewal queue on top
of the demo accounts (``seed_demo``). Does nothing when segments already exist."""

from django.core.management.base import BaseCommand, CommandError

from customers.models import Account
from demo.workspace import seed_demo_workspace


class Command(BaseCommand):
    help = (
        "Create demo segments (recomputed), playbooks and the renewal queue on top of the "
        "demo accounts; does nothing when segments already exist."
    )

    def handle(self, *args, **options) -> None:
        if not Account.objects.exists():
            raise CommandError("No accounts: run `manage.py seed_demo` first.")
        result = seed_demo_workspace()
        if not result.created:
            self.stdout.write("Segments already exist; demo workspace not created.")
            return
        for name, count in result.segments.items():
            self.stdout.write(f"  segment {name!r}: {count:,} members")
        for name in result.playbooks:
            self.stdout.write(f"  playbook {name!r} (active)")
        for name in result.scorecards:
            self.stdout.write(f"  health scorecard {name!r}")
        self.stdout.write(f"  {result.sentiment_entries:,} CSM sentiment scores entered")
        self.stdout.write(
            f"Renewal queue: {result.queue_entries:,} entries, "
            f"{result.renewal_tasks:,} renewal tasks."
        )

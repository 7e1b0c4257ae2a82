from argparse import ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.models import Account
from demo.accounts import SeedError, demo_logins, seed_demo

MAX_ACCOUNTS = 10_000_000


def _accounts_count(value: str) -> int:
    # argparse turns ArgumentTypeError into "argument --accounts: …" and a non-zero exit.
    try:
        number = int(value)
    except ValueError:
        raise ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 0 <= number <= MAX_ACCOUNTS:
        raise ArgumentTypeError(f"must be between 0 and {MAX_ACCOUNTS:,}, got {number}")
    return number


class Command(BaseCommand):
    help = (
        "Generate a realistic, deterministic demo dataset (users, accounts, contracts, "
        "assignments, custom attributes) and print the demo logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--accounts", type=_accounts_count, default=2000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (but still print the demo logins) when accounts already exist.",
        )
        parser.add_argument(
            "--no-usage",
            action="store_true",
            help="Leave out the demo usage metrics and daily usage.",
        )

    def handle(
        self, *args: Any, accounts: int, seed: int, if_empty: bool, no_usage: bool, **options: Any
    ) -> None:
        if if_empty and Account.objects.exists():
            self.stdout.write("Accounts already exist; demo data not seeded (--if-empty).")
            self._print_logins()
            return
        self.stdout.write(f"Seeding {accounts:,} demo accounts (seed {seed})...")
        try:
            result = seed_demo(accounts=accounts, seed=seed, out=self.stdout, usage=not no_usage)
        except SeedError as error:
            raise CommandError(str(error)) from error
        rate = result.rows / result.elapsed_seconds if result.elapsed_seconds else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.accounts:,} accounts, {result.contracts:,} contracts, "
                f"{result.assignments:,} assignments, {result.users} users, "
                f"{result.attribute_definitions} custom attributes, "
                f"{result.usage_rows:,} daily usage rows of {result.usage_metrics} metrics "
                f"in {result.elapsed_seconds:.1f} s ({rate:,.0f} rows/s)."
            )
        )
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write("Demo logins (username / password):")
        for login in demo_logins():
            self.stdout.write(f"  {login.username:<10} {login.password}   ({login.role})")

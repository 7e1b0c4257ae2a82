"""The seed_demo command: counts, logins, --if-empty and refused arguments."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.models import Account
from demo.accounts import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def test_seed_demo_prints_counts_time_and_logins(today, capsys):
    call_command("seed_demo", "--accounts", "40", "--seed", "2")
    out = capsys.readouterr().out
    assert Account.objects.count() == 40
    assert "Seeded 40 accounts" in out and " s (" in out
    assert f"manager1   {DEMO_PASSWORD}" in out and f"csm8       {DEMO_PASSWORD}" in out


def test_seed_demo_if_empty_does_nothing_when_accounts_exist_but_prints_logins(today, capsys):
    # Given a seeded database
    call_command("seed_demo", "--accounts", "10", "--seed", "2")
    capsys.readouterr()
    # When seeding again with --if-empty (and another seed)
    call_command("seed_demo", "--accounts", "10", "--seed", "3", "--if-empty")
    # Then nothing is added, and the logins are still printed
    out = capsys.readouterr().out
    assert Account.objects.count() == 10
    assert "already exist" in out and "csm1" in out


def test_seed_demo_if_empty_seeds_an_empty_database(today):
    call_command("seed_demo", "--accounts", "10", "--if-empty")
    assert Account.objects.count() == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accounts", "-5"], "--accounts: must be between 0"),
        (["--accounts", "many"], "--accounts: expected a whole number"),
        (["--seed", "x"], "--seed"),
    ],
)
def test_seed_demo_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", *args)
    assert not Account.objects.exists()


def test_seed_demo_refuses_to_seed_the_same_seed_twice(today):
    call_command("seed_demo", "--accounts", "3", "--seed", "4")
    with pytest.raises(CommandError, match="already exist"):
        call_command("seed_demo", "--accounts", "3", "--seed", "4")

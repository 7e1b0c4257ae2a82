"""The management commands: seed_demo and customers_rederive."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.demo import DEMO_PASSWORD
from customers.models import Account, AssignmentRole, CSMAssignment

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


def test_customers_rederive_reports_drift_and_fix_repairs_it(today, capsys):
    # Given seeded data where a raw write broke one account's arr and another's owner
    call_command("seed_demo", "--accounts", "60", "--seed", "9")
    capsys.readouterr()
    money = Account.objects.filter(arr__gt=0).order_by("id").first()
    owned = Account.objects.filter(owner__isnull=False).exclude(pk=money.pk).order_by("id").first()
    true_arr, true_owner = money.arr, owned.owner_id
    Account.objects.filter(pk=money.pk).update(arr=money.arr + 1)
    Account.objects.filter(pk=owned.pk).update(owner=None)
    # When the command runs without --fix (in small batches)
    with pytest.raises(CommandError) as error:
        call_command("customers_rederive", "--batch-size", "7")
    # Then it exits with code 1, names the drifted ids and changes nothing
    assert error.value.returncode == 1
    out = capsys.readouterr().out
    assert f"arr/renewal_date drift found: 1 account(s), e.g. ids [{money.pk}]" in out
    assert f"owner drift found: 1 account(s), e.g. ids [{owned.pk}]" in out
    assert Account.objects.get(pk=money.pk).arr == true_arr + 1
    # When it runs with --fix
    call_command("customers_rederive", "--fix")
    assert "Repaired 2 account(s)" in capsys.readouterr().out
    # Then both are repaired and a new check finds nothing
    assert Account.objects.get(pk=money.pk).arr == true_arr
    assert Account.objects.get(pk=owned.pk).owner_id == true_owner
    call_command("customers_rederive")
    assert "No drift" in capsys.readouterr().out


def test_customers_rederive_owner_drift_when_the_owner_assignment_was_ended_raw(today, capsys):
    call_command("seed_demo", "--accounts", "20", "--seed", "9")
    owned = Account.objects.filter(owner__isnull=False).order_by("id").first()
    CSMAssignment.objects.filter(account=owned, role=AssignmentRole.OWNER).update(
        ended_at=owned.created_at
    )
    call_command("customers_rederive", "--fix")
    assert Account.objects.get(pk=owned.pk).owner is None


def test_customers_rederive_on_an_empty_database(capsys):
    call_command("customers_rederive")
    assert "No drift" in capsys.readouterr().out

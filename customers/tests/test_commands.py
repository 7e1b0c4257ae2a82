"""The customers_rederive command (on data written by ``seed_demo``)."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.models import Account, AssignmentRole, CSMAssignment

pytestmark = pytest.mark.django_db


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

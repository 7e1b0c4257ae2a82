"""A mark whose account is gone (written by a writer racing the account's deletion: the
marks table has no foreign-key constraint, see ``customers.models.PendingEvaluation``) is
swept like any other and changes nothing."""

from decimal import Decimal

import pytest
from django.db import connection

from customers.models import Account, PendingEvaluation
from customers.selectors import account_ids_pending_evaluation
from customers.services import accounts_mark_changed
from segments import engine

from .engine_fixtures import ARR_100K, account, member_ids, published, recompute

pytestmark = pytest.mark.django_db


def test_a_mark_for_a_deleted_account_is_swept_away_and_changes_nothing(today):
    # Given a member of a segment and a mark left behind by an account deleted since
    member = account(arr=Decimal("200000"))
    segment = published("Big", ARR_100K)
    recompute(segment)
    gone = account(arr=Decimal("300000"))
    gone_id = gone.pk
    gone.delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PendingEvaluation._meta.db_table} (account_id, marked_at) "
            "VALUES (%s, CURRENT_TIMESTAMP)",
            [gone_id],
        )
    accounts_mark_changed(account_ids=[member.pk])

    # When the sweep runs
    result = engine.segments_evaluate_changed_accounts()

    # Then both marks are gone, the member stays and nothing entered or exited
    assert result.accounts == 2 and (result.entered, result.exited) == (0, 0)
    assert member_ids(segment) == {member.pk}
    assert not account_ids_pending_evaluation().exists()


def test_deleting_an_account_still_deletes_its_mark():
    marked = account(arr=Decimal("10"))
    accounts_mark_changed(account_ids=[marked.pk])

    Account.objects.filter(pk=marked.pk).delete()

    assert not PendingEvaluation.objects.filter(account_id=marked.pk).exists()

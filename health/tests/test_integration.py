"""Through the real Redis broker and a real Celery worker process: an account PATCH through
the API reaches the account's health score and then a health segment, by itself (the
changed-accounts sweep rescores before it evaluates); "recompute now" rescores every
account."""

import pytest

from conftest import wait_for
from customers.models import Account
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory
from health.models import AccountHealth
from segments.tests.engine_fixtures import member_ids, published

from .fixtures import field, run, scorecard

TICKETS = field("tickets", "open_tickets", 10, 0)


def _score(account_id: int):
    return (
        AccountHealth.objects.filter(account_id=account_id).values_list("score", flat=True).first()
    )


@pytest.mark.redis
def test_an_account_patch_reaches_its_score_and_its_health_segment(
    celery_worker_process, settings, manager
):
    # given a scored green account and a published "Health: red" segment (the worker
    # recomputes it on publish: empty)
    settings.SEGMENT_EVAL_DEBOUNCE_SECONDS = 0
    account = AccountFactory(open_tickets=0)
    scorecard(measures=[TICKETS])
    # (no marks: the sweep they would queue takes this process's debounce key, which the
    # worker process, with its own local cache, cannot clear)
    run(mark_changed=False)
    red = published("Health: red", {"field": "health.status", "op": "eq", "value": "red"})
    assert wait_for(lambda: red.snapshots.exists(), timeout=30)
    assert member_ids(red) == set()

    # when a client PATCHes the account's data through the API
    response = api_client(manager).patch(
        f"/api/accounts/{account.pk}/", {"open_tickets": 8}, format="json"
    )
    assert response.status_code == 200

    # then the worker's sweep rescores it and the health segment takes it in
    assert wait_for(lambda: member_ids(red) == {account.pk}, timeout=30), member_ids(red)
    assert _score(account.pk) == 20
    assert Account.objects.get(pk=account.pk).health_score == 20


@pytest.mark.redis
def test_recompute_now_rescores_through_the_worker(celery_worker_process, manager):
    account = AccountFactory(open_tickets=3)
    scorecard(measures=[TICKETS])  # queues the recompute on commit
    assert wait_for(lambda: _score(account.pk) == 70, timeout=30)
    Account.objects.filter(pk=account.pk).update(open_tickets=5)  # behind the services' back
    assert api_client(manager).post("/api/health/recompute/").status_code == 202
    assert wait_for(lambda: _score(account.pk) == 50, timeout=30), _score(account.pk)

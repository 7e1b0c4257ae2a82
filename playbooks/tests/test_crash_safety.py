"""A renewal queue build that dies half-way writes nothing; the retry creates every entry
and exactly one task per (contract, window)."""

from datetime import timedelta

import pytest
from django.db import DatabaseError

from customers.tests.factories import ContractFactory
from playbooks import services
from playbooks.models import RenewalQueueEntry, Task, TaskSource
from tests.crash import inserts_fail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_windows")]


def test_a_crash_mid_build_writes_nothing_and_the_retry_is_exactly_once(today):
    # Given contracts inside T-120 and T-90
    for days in (10, 60, 100):
        ContractFactory(
            start_date=today - timedelta(days=300), end_date=today + timedelta(days=days)
        )

    # When the build dies as it creates the renewal tasks (its entries already inserted)
    with inserts_fail(Task._meta.db_table), pytest.raises(DatabaseError):
        services.renewal_queue_rebuild(today=today)

    # Then neither entries nor tasks were kept
    assert not RenewalQueueEntry.objects.exists()
    assert not Task.objects.exists()

    # And the retry (twice) builds everything once: 3 contracts in T-120, 2 of them in T-90,
    services.renewal_queue_rebuild(today=today)
    services.renewal_queue_rebuild(today=today)
    assert RenewalQueueEntry.objects.count() == 5
    # and one task per renewal (its tightest window)
    renewal_tasks = Task.objects.filter(source=TaskSource.RENEWAL)
    assert renewal_tasks.count() == 3
    assert renewal_tasks.values("contract_id").distinct().count() == 3

"""A full diff of the renewal queue with nothing to do only reads (PostgreSQL)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from playbooks import services

from .test_renewal_queue import contract_ending, entries

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_windows")]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite classifies into a temporary table"
)
def test_a_full_diff_with_nothing_to_do_only_reads(today):
    # Given a queue built once
    for days in (10, 95, 118, -2):
        contract_ending(today, days)
    services.renewal_queue_rebuild(today=today)

    # When a full diff runs with nothing to do
    timings = []
    with CaptureQueriesContext(connection) as queries:
        full = services.renewal_queue_rebuild(today=today, full=True, timings=timings)

    # Then it ran the read-only check of the classified rows and no statement that writes
    # the queue or its tasks
    assert [label for label, _, _ in timings] == ["find delta scope", "diff, read-only check"]
    assert (full.inserted, full.updated, full.deleted, full.tasks_created) == (0, 0, 0, 0)
    writes = [
        query["sql"]
        for query in queries.captured_queries
        if any(word in query["sql"] for word in ("INSERT", "UPDATE", "DELETE"))
        and any(table in query["sql"] for table in ("renewalqueueentry", "playbooks_task"))
    ]
    assert writes == []

    # And a change behind the queue's back is still applied by the next full diff
    new = contract_ending(today, 20)
    assert services.renewal_queue_rebuild(today=today, full=True).inserted == 2
    assert {(new.pk, 120), (new.pk, 90)} <= entries()

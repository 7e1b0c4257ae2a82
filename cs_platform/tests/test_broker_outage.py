"""A broker outage: writes still succeed (2xx), their follow-up work waits in the outbox,
and the relay sends it once the broker is back; never a 500 after a commit, and a client
retrying finds its write done instead of creating a second one."""

import time

import pytest

from conftest import wait_for
from cs_platform import outbox
from cs_platform.models import OutboxMessage
from customers.tests.api_client import api_client
from segments.tests.engine_fixtures import ARR_100K, account, member_ids

from .broker import broker_at, closed_port_url

PLAN_PRO = {"field": "plan", "op": "eq", "value": "pro"}


def writes_during_outage(manager) -> dict:
    """With the broker on a closed port: a segment and draft created, the draft published,
    an account PATCHed, each through the API. Returns what the test needs."""
    client = api_client(manager)
    pro = account(name="Acme", plan="starter")
    created = client.post(
        "/api/segments/", {"name": "Pro", "rule": ARR_100K, "publish": True}, format="json"
    )
    assert created.status_code == 201, created.content
    segment_id = created.json()["id"]
    draft = client.post(f"/api/segments/{segment_id}/versions/", {"rule": PLAN_PRO}, format="json")
    assert draft.status_code == 201, draft.content
    started = time.monotonic()
    published = client.post(f"/api/segments/{segment_id}/versions/2/publish/")
    assert published.status_code == 200, published.content
    patched = client.patch(f"/api/accounts/{pro.pk}/", {"plan": "pro"}, format="json")
    assert patched.status_code == 200, patched.content
    return {
        "client": client,
        "segment_id": segment_id,
        "account": pro,
        "seconds": time.monotonic() - started,
    }


@pytest.mark.django_db
def test_with_the_broker_down_writes_succeed_and_their_work_waits_for_it(
    manager, monkeypatch, django_capture_on_commit_callbacks, eager_tasks, today, settings
):
    settings.RENEWAL_REBUILD_DEBOUNCE_SECONDS = 0  # every follow-up due at once
    from cs_platform.celery import app

    # given the broker is down (a closed port), and tasks are not run in-process
    app.conf.task_always_eager = False
    with broker_at(closed_port_url(), monkeypatch):
        # when a manager creates and publishes a segment version and PATCHes an account
        with django_capture_on_commit_callbacks(execute=True):
            outage = writes_during_outage(manager)
        # then every write answered 2xx, fast (a failed broker connection is not retried
        # for seconds per request), and the work waits in the outbox, not sent
        assert outage["seconds"] < 3
        waiting = OutboxMessage.objects.filter(state="queued", dispatched_at__isnull=True)
        assert set(waiting.values_list("task", flat=True)) == {
            "segments.recompute",
            "segments.evaluate_changed",
            "playbooks.renewal_queue_rebuild",  # the delta build (no debounce here)
        }
        # and a client retrying the publish it thinks failed gets a 400, not a new version
        client = outage["client"]
        retry = client.post(f"/api/segments/{outage['segment_id']}/versions/2/publish/")
        assert retry.status_code == 400
        versions = client.get(f"/api/segments/{outage['segment_id']}/versions/").json()
        assert versions["count"] == 2
        # and the relay, while the broker is still down, sends nothing and loses nothing
        assert outbox.relay().broker_down
        # the recomputes of versions 1 and 2, the sweep, the renewal build
        assert waiting.count() == 4

    # when the broker is back (tasks run in-process here) and the relay passes
    app.conf.task_always_eager = True
    result = outbox.relay()

    # then the recomputes and the sweep ran: the PATCHed account is a member
    assert result.sent == 4
    assert not OutboxMessage.objects.exclude(state="done").exists()
    from segments.models import Segment

    assert member_ids(Segment.objects.get(pk=outage["segment_id"])) == {outage["account"].pk}


@pytest.mark.redis
def test_after_an_outage_the_relay_hands_the_work_to_a_real_worker(
    celery_worker_process, manager, monkeypatch, today, settings
):
    settings.RENEWAL_REBUILD_DEBOUNCE_SECONDS = 0  # every follow-up due at once
    # given a real worker on the real broker, and this process's broker down
    with broker_at(closed_port_url(), monkeypatch):
        outage = writes_during_outage(manager)  # real commits (transactional test)
        assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() >= 2

    # when the broker is back and the relay passes
    outbox.relay()

    # then the worker does the waiting work: the account is in the published segment
    from segments.models import Segment

    segment = Segment.objects.get(pk=outage["segment_id"])
    assert wait_for(lambda: member_ids(segment) == {outage["account"].pk}, timeout=30)
    assert wait_for(lambda: not OutboxMessage.objects.exclude(state="done").exists(), timeout=30)

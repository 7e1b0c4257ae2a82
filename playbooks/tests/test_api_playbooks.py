"""Renewals, tasks and playbooks over the API."""

from datetime import timedelta
from decimal import Decimal

import pytest

from customers import services as customer_services
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory
from playbooks import services
from playbooks.models import Playbook, RenewalWindow, Task, TaskStatusChange
from segments.tests.engine_fixtures import PRO_RULE, published, recompute

pytestmark = pytest.mark.django_db


@pytest.fixture
def renewing(csm, today):
    """An account owned by ``csm`` whose contract renews in 80 days, queue built."""
    for days in (120, 90):
        RenewalWindow.objects.get_or_create(days=days)
    account = AccountFactory(name="Acme")
    customer_services.csm_assign(account=account, user=csm)
    contract = customer_services.contract_create(
        account=account,
        start_date=today - timedelta(days=285),
        end_date=today + timedelta(days=80),
        arr=Decimal("120000.00"),
    )
    services.renewal_queue_rebuild(today=today, full=True)
    return account, contract


def test_renewal_queue_entries_and_filters(renewing, csm, today):
    account, contract = renewing
    client = api_client(csm)
    entries = client.get("/api/renewals/").json()["results"]
    assert sorted(e["window"] for e in entries) == [90, 120]
    entry = entries[0]
    assert entry == {
        "contract": contract.id,
        "account": account.id,
        "window": entry["window"],
        "days_left": 80,
        "renewal_date": (today + timedelta(days=80)).isoformat(),
        "arr": "120000.00",
        "csm": "csm",
        "overdue": False,
        "forecast": None,
        "expected_arr": None,
    }
    assert [e["window"] for e in client.get("/api/renewals/?window=90").json()["results"]] == [90]
    assert client.get("/api/renewals/?csm=nobody").json()["count"] == 0
    assert client.get("/api/renewals/?overdue=true").json()["count"] == 0
    assert client.get("/api/renewals/?window=abc").status_code == 400
    # ?account= finds the entries through the account's contracts
    assert client.get(f"/api/renewals/?account={account.id}").json()["count"] == 2
    assert client.get(f"/api/renewals/?account={AccountFactory().id}").json()["count"] == 0


def test_rebuild_is_queued_for_managers_only(manager, csm, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client(manager).post("/api/renewals/rebuild/")
    assert response.status_code == 202 and len(callbacks) == 1
    assert api_client(csm).post("/api/renewals/rebuild/").status_code == 403


def test_tasks_list_defaults_to_own_work_for_csms(renewing, csm, other_csm, manager):
    account, _ = renewing
    services.task_create(account=account, title="Theirs", assignee=other_csm)
    other_account = AccountFactory()
    services.task_create(account=other_account, title="Elsewhere", assignee=other_csm)
    # A CSM sees tasks assigned to them or on their accounts
    mine = api_client(csm).get("/api/tasks/").json()["results"]
    assert {t["title"] for t in mine} == {t.title for t in Task.objects.filter(account=account)}
    # ?assignee= shows anyone's tasks
    theirs = api_client(csm).get("/api/tasks/?assignee=other_csm").json()["results"]
    assert {t["title"] for t in theirs} == {"Theirs", "Elsewhere"}
    # Managers see every task
    assert api_client(manager).get("/api/tasks/").json()["count"] == Task.objects.count()


def test_renewal_task_shape(renewing, csm):
    _, contract = renewing
    tasks = api_client(csm).get("/api/tasks/?source=renewal").json()["results"]
    assert {t["window"] for t in tasks} == {90}  # one task per renewal: its tightest window
    task = tasks[0]
    assert (task["contract"], task["assignee"], task["status"], task["source"]) == (
        contract.id,
        "csm",
        "open",
        "renewal",
    )


def test_csm_completes_own_task_with_history(renewing, csm):
    account, _ = renewing
    task = Task.objects.filter(account=account).first()
    response = api_client(csm).patch(
        f"/api/tasks/{task.id}/", {"status": "done", "note": "Called them"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "done"
    change = TaskStatusChange.objects.get(task=task)
    assert (change.from_status, change.to_status, change.by, change.note) == (
        "open",
        "done",
        csm,
        "Called them",
    )


def test_snooze_and_edit(renewing, csm, today):
    account, _ = renewing
    task = Task.objects.filter(account=account).first()
    client = api_client(csm)
    until = (today + timedelta(days=3)).isoformat()
    response = client.patch(f"/api/tasks/{task.id}/", {"snoozed_until": until}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["snoozed_until"]) == ("snoozed", until)
    bad = client.patch(
        f"/api/tasks/{task.id}/",
        {"status": "snoozed", "snoozed_until": "2000-01-01"},
        format="json",
    )
    assert bad.status_code == 400 and "snoozed_until" in bad.json()
    edited = client.patch(f"/api/tasks/{task.id}/", {"title": "Call CFO"}, format="json")
    assert edited.json()["title"] == "Call CFO"
    assert (
        client.patch(f"/api/tasks/{task.id}/", {"status": "lost"}, format="json").status_code == 400
    )


def test_other_csm_may_not_change_the_task(renewing, other_csm, manager):
    account, _ = renewing
    task = Task.objects.filter(account=account).first()
    response = api_client(other_csm).patch(
        f"/api/tasks/{task.id}/", {"status": "done"}, format="json"
    )
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.status == "open"
    # but may read it, and a manager may change it
    assert api_client(other_csm).get(f"/api/tasks/{task.id}/").status_code == 200
    done = api_client(manager).patch(f"/api/tasks/{task.id}/", {"status": "done"}, format="json")
    assert done.status_code == 200


@pytest.fixture
def segment(manager, today):
    AccountFactory(name="Member", plan="pro")
    segment = published("Pro", PRO_RULE, created_by=manager)
    recompute(segment)
    return segment


STEPS = [{"kind": "create_task", "config": {"title": "Welcome {{ account.name }}"}}]


def test_create_playbook_list_runs_and_dry_run(segment, manager, csm):
    client = api_client(manager)
    response = client.post(
        "/api/playbooks/",
        {"name": "Welcome", "segment": segment.pk, "trigger": "on_enter", "steps": STEPS},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [s["kind"] for s in body["steps"]] == ["create_task"]
    assert body["steps"][0]["config"]["title"] == "Welcome {{ account.name }}"
    playbook_id = body["id"]
    assert [p["name"] for p in api_client(csm).get("/api/playbooks/").json()["results"]] == [
        "Welcome"
    ]
    runs = api_client(csm).get(f"/api/playbooks/{playbook_id}/runs/").json()
    assert runs["count"] == 0
    dry = api_client(csm).post(f"/api/playbooks/{playbook_id}/dry-run/").json()
    assert (dry["members"], dry["shown"]) == (1, 1)
    assert dry["accounts"][0]["steps"][0]["title"] == "Welcome Member"
    assert not Task.objects.exists()  # the dry run changed nothing


@pytest.mark.parametrize(
    "change, field",
    [
        ({"steps": [{"kind": "webhook", "config": {"url": "ftp://x"}}]}, "steps"),
        ({"steps": [{"kind": "teleport"}]}, "steps"),
        ({"segment": 999999}, "segment"),
        ({"trigger": "on_birthday"}, "trigger"),
    ],
)
def test_playbook_errors(segment, manager, change, field):
    payload = {"name": "P", "segment": segment.pk, "steps": STEPS, **change}
    response = api_client(manager).post("/api/playbooks/", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Playbook.objects.exists()


def test_unknown_playbook_is_404(manager):
    client = api_client(manager)
    assert client.get("/api/playbooks/999/runs/").status_code == 404
    assert client.post("/api/playbooks/abc/dry-run/").status_code == 404


def test_csm_may_not_create_playbooks(segment, csm):
    payload = {"name": "P", "segment": segment.pk, "steps": STEPS}
    assert api_client(csm).post("/api/playbooks/", payload, format="json").status_code == 403


def test_bad_due_dates_filter(csm):
    assert api_client(csm).get("/api/tasks/?due_before=2026-99-01").status_code == 400
    assert api_client(csm).get("/api/tasks/?status=lost").status_code == 400

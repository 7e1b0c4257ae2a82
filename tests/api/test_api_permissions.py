"""The permission matrix of the API, matching the UI: anonymous users get nothing; CSMs
read everything and change only their own book's tasks; managers change everything."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from customers import services as customer_services
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory
from playbooks import services as playbook_services
from segments import services as segment_services
from segments.tests.engine_fixtures import PRO_RULE, published, recompute

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "csm", "other_csm", "manager")


@pytest.fixture
def world(manager, csm, other_csm, today):
    """An account in csm's book with a contract, a task, a segment and a playbook."""
    account = AccountFactory(name="Acme", plan="pro")
    customer_services.csm_assign(account=account, user=csm)
    contract = customer_services.contract_create(
        account=account,
        start_date=today - timedelta(days=10),
        end_date=today + timedelta(days=300),
        arr=Decimal("1000.00"),
    )
    AccountFactory(name="Spare", external_id="spare")
    segment = published("Pro", PRO_RULE, created_by=manager)
    recompute(segment)
    segment_services.version_create_draft(segment=segment, rule={"all": []})
    playbook = playbook_services.playbook_create(
        name="Welcome",
        segment=segment,
        steps=[{"kind": "create_task", "config": {"title": "Hi"}}],
        by=manager,
    )
    task = playbook_services.task_create(account=account, title="Call", assignee=csm)
    return {
        "account": account.pk,
        "spare": AccountFactory(name="Gone").pk,
        "contract": contract.pk,
        "segment": segment.pk,
        "playbook": playbook.pk,
        "task": task.pk,
    }


READ = {"anonymous": "denied", "csm": 200, "other_csm": 200, "manager": 200}


def write(ok: int) -> dict:
    return {"anonymous": "denied", "csm": 403, "other_csm": 403, "manager": ok}


CASES = [
    ("get", "/api/accounts/", None, READ),
    ("get", "/api/accounts/{account}/", None, READ),
    ("post", "/api/accounts/", {"name": "N", "external_id": "n-1"}, write(201)),
    ("patch", "/api/accounts/{account}/", {"plan": "enterprise"}, write(200)),
    ("delete", "/api/accounts/{spare}/", None, write(204)),
    ("post", "/api/accounts/bulk/", {"accounts": [{"external_id": "b", "name": "B"}]}, write(200)),
    ("get", "/api/accounts/{account}/segments/", None, READ),
    ("get", "/api/accounts/{account}/explain/?segment={segment}", None, READ),
    ("get", "/api/contracts/", None, READ),
    ("get", "/api/contracts/{contract}/", None, READ),
    (
        "post",
        "/api/contracts/",
        {"account": "{account}", "start_date": "2026-01-01", "end_date": "2026-02-01", "arr": "1"},
        write(201),
    ),
    ("patch", "/api/contracts/{contract}/", {"seats": 5}, write(200)),
    ("post", "/api/assignments/", {"account": "{account}", "user": "other_csm"}, write(201)),
    ("get", "/api/attributes/", None, READ),
    ("post", "/api/attributes/", {"key": "k", "label": "K", "type": "text"}, write(201)),
    ("get", "/api/segments/", None, READ),
    ("get", "/api/segments/{segment}/", None, READ),
    ("post", "/api/segments/", {"name": "S", "rule": {"all": []}}, write(201)),
    ("patch", "/api/segments/{segment}/", {"description": "d"}, write(200)),
    ("get", "/api/segments/{segment}/versions/", None, READ),
    ("post", "/api/segments/{segment}/versions/", {"rule": {"any": []}}, write(201)),
    ("post", "/api/segments/{segment}/versions/2/publish/", None, write(200)),
    ("get", "/api/segments/{segment}/versions/2/preview/", None, READ),
    ("post", "/api/segments/{segment}/recompute/", None, write(202)),
    ("get", "/api/segments/{segment}/members/", None, READ),
    ("get", "/api/segments/{segment}/members/?format=csv", None, READ),
    ("get", "/api/segments/{segment}/events/", None, READ),
    ("get", "/api/renewals/", None, READ),
    ("post", "/api/renewals/rebuild/", None, write(202)),
    ("get", "/api/renewals/forecast/", None, READ),
    ("get", "/api/renewals/outcomes/", None, READ),
    (
        "post",
        "/api/renewals/{contract}/forecast/",
        {"forecast": "commit"},
        {"anonymous": "denied", "csm": 200, "other_csm": 403, "manager": 200},
    ),
    ("get", "/api/churn-reasons/", None, READ),
    ("post", "/api/churn-reasons/", {"name": "Price"}, write(201)),
    ("get", "/api/tasks/", None, READ),
    ("get", "/api/tasks/{task}/", None, READ),
    (
        "patch",
        "/api/tasks/{task}/",
        {"status": "done"},
        {"anonymous": "denied", "csm": 200, "other_csm": 403, "manager": 200},
    ),
    ("get", "/api/playbooks/", None, READ),
    ("get", "/api/playbooks/{playbook}/", None, READ),
    (
        "post",
        "/api/playbooks/",
        {"name": "P", "segment": "{segment}", "steps": []},
        write(201),
    ),
    ("get", "/api/playbooks/{playbook}/runs/", None, READ),
    ("post", "/api/playbooks/{playbook}/dry-run/", None, READ),
    ("get", "/api/schema/", None, READ),
    ("get", "/api/docs/", None, READ),
]


def _fill(value, ids):
    if isinstance(value, str):
        filled = value.format(**ids)
        return int(filled) if value.startswith("{") and filled.isdigit() else filled
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "method, url, body, expected", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES]
)
def test_permission_matrix(request, world, role, method, url, body, expected):
    # Given a user in a role
    user = None if role == "anonymous" else request.getfixturevalue(role)
    client = api_client(user)
    # When they call the endpoint
    kwargs = {"format": "json"} if body is not None else {}
    response = getattr(client, method)(_fill(url, world), _fill(body, world), **kwargs)
    # Then they get what their role allows
    if expected[role] == "denied":
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == expected[role], getattr(response, "data", response)


def test_assignment_by_csm_changes_nothing(world, csm, other_csm):
    from customers.models import Account

    api_client(csm).post(
        "/api/assignments/", {"account": world["account"], "user": "csm"}, format="json"
    )
    assert Account.objects.get(pk=world["account"]).owner == csm
    assert date.today()

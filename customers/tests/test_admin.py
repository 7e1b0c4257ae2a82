"""The Django admin writes through customers.services, so derived columns stay right."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from customers import services
from customers.models import Account, AssignmentRole, Contract, CSMAssignment
from customers.selectors import account_ids_pending_evaluation

from .factories import AccountFactory, ContractFactory, CSMFactory

pytestmark = pytest.mark.django_db


def form_data(response) -> dict[str, Any]:
    """The POST data a browser would send back for an admin change form, unchanged."""
    data: dict[str, Any] = {}

    def add(form) -> None:
        for bound in form:
            if bound.field.disabled:
                continue
            value = bound.value()
            if isinstance(value, bool):
                if value:
                    data[bound.html_name] = "on"
            elif value is not None:
                data[bound.html_name] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


@pytest.fixture
def account_with_contract():
    account = services.account_create(name="Acme", external_id="acme", plan="pro")
    contract = services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=10000
    )
    return account, contract


def test_changing_a_contract_in_the_admin_updates_the_account_arr(
    admin_client, account_with_contract
):
    # Given an account whose only contract is worth 10,000
    account, contract = account_with_contract
    url = f"/admin/customers/contract/{contract.pk}/change/"
    data = form_data(admin_client.get(url))
    # When a manager changes the contract's ARR and end date in the admin
    data.update(arr="15000.00", end_date="2027-03-31")
    response = admin_client.post(url, data)
    # Then the change is saved and the account's derived columns follow
    assert response.status_code == 302, response.context and response.context["errors"]
    account.refresh_from_db()
    assert account.arr == Decimal("15000.00")
    assert account.renewal_date == date(2027, 3, 31)
    assert account.pk in account_ids_pending_evaluation()


def test_changing_a_contract_inline_on_the_account_updates_arr(admin_client, account_with_contract):
    account, contract = account_with_contract
    url = f"/admin/customers/account/{account.pk}/change/"
    data = form_data(admin_client.get(url))
    assert data["contracts-0-id"] == str(contract.pk)
    data["contracts-0-status"] = "churned"
    response = admin_client.post(url, data)
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.arr, account.renewal_date) == (Decimal("0.00"), None)


def test_adding_an_account_with_a_contract_in_the_admin(admin_client):
    # Given the empty add form
    data = form_data(admin_client.get("/admin/customers/account/add/"))
    # When a manager fills in an account and one contract
    data.update(
        {
            "name": "Globex",
            "external_id": "globex",
            "plan": "enterprise",
            "traits": "{}",
            "contracts-TOTAL_FORMS": "1",
            "contracts-0-start_date": "2026-01-01",
            "contracts-0-end_date": "2026-12-31",
            "contracts-0-arr": "50000",
            "contracts-0-status": "active",
        }
    )
    response = admin_client.post("/admin/customers/account/add/", data)
    # Then both exist and the derived columns are set
    assert response.status_code == 302
    account = Account.objects.get(external_id="globex")
    assert account.arr == Decimal("50000.00") and account.renewal_date == date(2026, 12, 31)
    assert account.pk in account_ids_pending_evaluation()


def test_a_contract_ending_before_it_starts_is_shown_as_a_form_error(admin_client):
    account = AccountFactory()
    data = form_data(admin_client.get("/admin/customers/contract/add/"))
    data.update(account=str(account.pk), start_date="2026-05-01", end_date="2026-04-01", arr="1")
    response = admin_client.post("/admin/customers/contract/add/", data)
    assert response.status_code == 200
    assert "must be on or after the start date" in response.content.decode()
    assert not Contract.objects.exists()


def test_unknown_traits_are_shown_as_a_form_error(admin_client, account_with_contract):
    account, _ = account_with_contract
    url = f"/admin/customers/account/{account.pk}/change/"
    data = form_data(admin_client.get(url))
    data["traits"] = '{"colour": "red"}'
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "no custom attribute with this key" in response.content.decode()


def test_assigning_an_owner_on_the_account_form_keeps_history(admin_client, account_with_contract):
    # Given an account owned by alice
    account, _ = account_with_contract
    alice, bob = CSMFactory(username="alice"), CSMFactory(username="bob")
    services.csm_assign(account=account, user=alice)
    url = f"/admin/customers/account/{account.pk}/change/"
    data = form_data(admin_client.get(url))
    # When a manager assigns bob
    data["assign_owner"] = str(bob.pk)
    assert admin_client.post(url, data).status_code == 302
    # Then bob owns it and alice's assignment is closed, not deleted
    account.refresh_from_db()
    assert account.owner == bob
    rows = CSMAssignment.objects.filter(account=account, role=AssignmentRole.OWNER)
    assert {(r.user.username, r.ended_at is None) for r in rows} == {
        ("alice", False),
        ("bob", True),
    }


def test_assign_owner_action_assigns_the_selected_accounts(admin_client):
    accounts = [AccountFactory(), AccountFactory()]
    bob = CSMFactory(username="bob")
    selected = [str(a.pk) for a in accounts]
    # The action first shows a page to pick the user
    page = admin_client.post(
        "/admin/customers/account/",
        {"action": "assign_owner_action", ACTION_CHECKBOX_NAME: selected},
    )
    assert page.status_code == 200 and "New owner" in page.content.decode()
    # Then applies it
    response = admin_client.post(
        "/admin/customers/account/",
        {
            "action": "assign_owner_action",
            ACTION_CHECKBOX_NAME: selected,
            "apply": "1",
            "user": str(bob.pk),
        },
    )
    assert response.status_code == 302
    assert Account.objects.filter(owner=bob).count() == 2
    assert CSMAssignment.objects.filter(user=bob, ended_at__isnull=True).count() == 2


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?plan=pro",
        "?region=NA&industry=software",
        "?lifecycle_stage=mature",
        "?csm=none",
        "?renewal_month=overdue",
        "?renewal_month=2026-12",
        "?q=Acme",
    ],
)
def test_account_changelist_filters(admin_client, today, query, django_assert_max_num_queries):
    # Given an account renewing in December, owned by alice
    account = services.account_create(
        name="Acme", external_id="acme", plan="pro", region="NA", industry="software"
    )
    services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 15), arr=1
    )
    AccountFactory.create_batch(5)
    # When listing with a filter, the query count does not grow with rows (no N+1)
    with django_assert_max_num_queries(12):
        response = admin_client.get(f"/admin/customers/account/{query}")
    assert response.status_code == 200
    names = [a.name for a in response.context["cl"].result_list]
    if query in ("?renewal_month=2026-12", "?q=Acme"):
        assert names == ["Acme"]
    if query == "?renewal_month=overdue":
        assert names == []


def test_renewal_month_filter_offers_overdue_and_the_next_twelve_months(admin_client, today):
    response = admin_client.get("/admin/customers/account/")
    html = response.content.decode()
    assert "renewal_month=overdue" in html
    assert "renewal_month=2026-11" in html and "renewal_month=2027-10" in html
    assert "renewal_month=2027-11" not in html


def test_assignment_history_is_read_only_in_the_admin(admin_client):
    bob = CSMFactory(username="bob")
    assignment = services.csm_assign(account=AccountFactory(), user=bob)
    services.csm_assign(account=AccountFactory(), user=CSMFactory(username="carol"))
    listing = admin_client.get(f"/admin/customers/csmassignment/?current=yes&user={bob.pk}")
    assert [a.pk for a in listing.context["cl"].result_list] == [assignment.pk]
    assert admin_client.get("/admin/customers/csmassignment/add/").status_code == 403
    url = f"/admin/customers/csmassignment/{assignment.pk}/change/"
    response = admin_client.post(url, {"role": "secondary"})
    assert response.status_code == 403
    assignment.refresh_from_db()
    assert assignment.role == AssignmentRole.OWNER


@pytest.mark.parametrize(
    "path",
    [
        "/admin/customers/contract/",
        "/admin/customers/attributedefinition/",
        "/admin/customers/note/",
        "/admin/customers/attributedefinition/add/",
        "/admin/customers/note/add/",
    ],
)
def test_other_admin_pages_render(admin_client, path):
    services.contract_create(
        account=AccountFactory(), start_date=date(2026, 1, 1), end_date=date(2026, 2, 1), arr=1
    )
    assert admin_client.get(path).status_code == 200


def test_attribute_definition_added_in_the_admin_goes_through_the_service(admin_client):
    response = admin_client.post(
        "/admin/customers/attributedefinition/add/",
        {"key": "segment_tier", "label": "Tier", "type": "choice", "choices": "[]"},
    )
    assert response.status_code == 200
    assert "needs a list of text choices" in response.content.decode()
    response = admin_client.post(
        "/admin/customers/attributedefinition/add/",
        {"key": "segment_tier", "label": "Tier", "type": "choice", "choices": '["a", "b"]'},
    )
    assert response.status_code == 302


def test_note_added_in_the_admin_is_authored_by_the_current_user(admin_client, admin_user):
    account = AccountFactory()
    response = admin_client.post(
        "/admin/customers/note/add/",
        {
            "account": str(account.pk),
            "kind": "call",
            "body": "Renewal call",
            "happened_at_0": "2026-11-20",
            "happened_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302
    assert account.notes.get().author == admin_user


def test_a_manager_without_superuser_can_use_the_account_admin(client, manager):
    client.force_login(manager)
    assert client.get("/admin/customers/account/").status_code == 200
    assert client.get("/admin/customers/account/add/").status_code == 200


@pytest.fixture
def announced():
    """The account ids of every ``accounts_changed`` the test causes."""
    from customers.signals import accounts_changed

    ids: list[int] = []

    def receiver(sender, account_ids, **kwargs):
        ids.extend(account_ids)

    accounts_changed.connect(receiver, dispatch_uid="test-admin-announced")
    yield ids
    accounts_changed.disconnect(dispatch_uid="test-admin-announced")


def test_deleting_an_account_in_the_admin_goes_through_the_service(
    admin_client, account_with_contract, announced, django_capture_on_commit_callbacks
):
    # Given an account with a contract
    account, _ = account_with_contract
    url = f"/admin/customers/account/{account.pk}/delete/"
    # When a manager opens the confirmation page, it lists the contract that goes with it
    page = admin_client.get(url)
    assert page.status_code == 200
    assert page.context["perms_lacking"] == set()
    assert "Contract" in page.content.decode()
    # And confirms the deletion
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"post": "yes"})
    # Then it is gone with its contract, and announced so segment totals are recomputed
    assert response.status_code == 302
    assert not Account.objects.filter(pk=account.pk).exists()
    assert not Contract.objects.exists()
    assert announced == [account.pk]


def test_deleting_accounts_with_the_admin_action_goes_through_the_service(
    admin_client, announced, django_capture_on_commit_callbacks
):
    # Given three accounts, one of them with a contract
    doomed, kept, also_doomed = AccountFactory(), AccountFactory(), AccountFactory()
    ContractFactory(account=doomed)
    # When a manager deletes two of them with the changelist's delete action
    data = {
        "action": "delete_selected",
        ACTION_CHECKBOX_NAME: [str(doomed.pk), str(also_doomed.pk)],
        "post": "yes",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/customers/account/", data)
    # Then only those two are gone, announced together
    assert response.status_code == 302
    assert list(Account.objects.values_list("pk", flat=True)) == [kept.pk]
    assert sorted(announced) == sorted([doomed.pk, also_doomed.pk])

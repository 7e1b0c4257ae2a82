"""Login protection (django-axes): repeated wrong passwords lock the account and the
address on the login page, the admin's login and the API (Basic auth, the token endpoint,
tokens); a locked account is refused even with its password, with a 429 that says why;
the lock lifts after the cool-off or when a manager deletes the access attempts in the
admin."""

import base64
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _limit(settings) -> None:
    settings.AXES_FAILURE_LIMIT = LIMIT


def ui_login(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def admin_login(client: Client, username: str, password: str):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
    )


def basic(username: str, password: str, address: str = "127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {pair}")
    return client


def cool_off_passes() -> None:
    """Move every recorded failure back past the cool-off (as the clock moving on would)."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))


def test_the_login_page_locks_an_account_after_the_limit(csm, settings):
    client = Client()
    # Given wrong passwords up to one below the limit: the form just says so
    for _ in range(LIMIT - 1):
        assert ui_login(client, "csm", "wrong").status_code == 200
    # When the limit is reached
    locked = ui_login(client, "csm", "wrong")
    # Then the answer is a 429 saying why and for how long
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    assert b"locked for 15 minutes" in locked.content
    assert locked["Retry-After"] == str(15 * 60)
    # And the right password is refused too, without signing in
    refused = Client().post(reverse("login"), {"username": "csm", "password": "pw-csm"})
    assert refused.status_code == 429 and "_auth_user_id" not in refused.client.session
    # After the cool-off the right password works again
    cool_off_passes()
    assert ui_login(Client(), "csm", "pw-csm").status_code == 302


def test_the_admin_login_locks_and_a_manager_unlocks(manager, settings):
    # Given an admin login attacked until locked
    for _ in range(LIMIT):
        response = admin_login(Client(), "manager", "wrong")
    assert response.status_code == 429
    assert admin_login(Client(), "manager", "pw-manager").status_code == 429
    # When another manager sees the lockout in the admin and deletes the access attempts
    from django.contrib.auth.models import Group

    other = Group.objects.get(name="Managers").user_set.create(
        username="other_manager", is_staff=True
    )
    admin = Client()
    admin.force_login(other)
    changelist = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert changelist.status_code == 200 and b"manager" in changelist.content
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
    response = admin.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": attempts, "post": "yes"},
    )
    assert response.status_code == 302 and not AccessAttempt.objects.exists()
    # Then the manager signs in again
    assert admin_login(Client(), "manager", "pw-manager").status_code == 302


def test_csms_do_not_see_the_lockouts(csm):
    client = Client()
    client.force_login(csm)
    response = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code in (302, 403)


def test_api_basic_auth_locks_with_a_json_429(csm):
    for _ in range(LIMIT - 1):
        assert basic("csm", "wrong").get("/api/accounts/").status_code == 403  # as before
    locked = basic("csm", "wrong").get("/api/accounts/")
    assert locked.status_code == 429
    assert locked.json()["detail"].startswith("Too many failed sign-in attempts")
    # The right password is refused while locked, and accepted after the cool-off
    assert basic("csm", "pw-csm").get("/api/accounts/").status_code == 429
    cool_off_passes()
    assert basic("csm", "pw-csm").get("/api/accounts/").status_code == 200


def test_the_token_endpoint_locks(csm):
    for _ in range(LIMIT):
        response = APIClient().post(
            "/api/auth/token/", {"username": "csm", "password": "wrong"}, format="json"
        )
    assert response.status_code == 429
    right = APIClient().post(
        "/api/auth/token/", {"username": "csm", "password": "pw-csm"}, format="json"
    )
    assert right.status_code == 429 and not Token.objects.exists()


def test_an_address_guessing_many_accounts_is_locked_and_others_are_not(csm, other_csm):
    # Given failures spread over several usernames from one address
    for name in ("alice", "bob", "carol"):
        basic(name, "guess", address="203.0.113.9").get("/api/accounts/")
    # Then that address is locked, even for a right password...
    assert basic("csm", "pw-csm", address="203.0.113.9").get("/api/accounts/").status_code == 429
    # ...while the accounts themselves are not, from elsewhere
    assert basic("csm", "pw-csm", address="198.51.100.4").get("/api/accounts/").status_code == 200


def test_invalid_tokens_lock_their_address(csm):
    token = Token.objects.create(user=csm)
    for n in range(LIMIT):
        client = APIClient(REMOTE_ADDR="203.0.113.7")
        client.credentials(HTTP_AUTHORIZATION=f"Token {n:040x}")
        response = client.get("/api/accounts/")
    assert response.status_code == 429
    # A valid token from that address is refused; from another address it works
    locked = APIClient(REMOTE_ADDR="203.0.113.7")
    locked.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert locked.get("/api/accounts/").status_code == 429
    elsewhere = APIClient(REMOTE_ADDR="198.51.100.4")
    elsewhere.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert elsewhere.get("/api/accounts/").status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_counts(csm, settings):
    # Given one reverse proxy in front of the app (every request comes from its address)
    settings.LOGIN_TRUSTED_PROXIES = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(LIMIT):
        client = APIClient(**proxy, HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.5")
        client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"x:y").decode())
        client.get("/api/accounts/")
    # Then the client the proxy saw is locked, not everyone behind the proxy (a forged
    # left-most entry changes nothing)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}
    other = APIClient(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    other.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"csm:pw-csm").decode())
    assert other.get("/api/accounts/").status_code == 200

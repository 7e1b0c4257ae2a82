"""Login is required on every page of the web UI; the API answers for itself."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/accounts/"])
def test_anonymous_page_requests_redirect_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("path", ["/", "/accounts/"])
def test_logged_in_users_see_the_pages(client, csm, path):
    client.force_login(csm)
    # (a CSM opening the accounts list lands on their book: ?csm=csm)
    assert client.get(path, follow=True).status_code == 200


def test_logging_in_with_the_form_works(client, csm):
    response = client.post("/accounts/login/", {"username": "csm", "password": "pw-csm"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_the_api_is_not_redirected_to_the_login_page(client):
    response = client.get("/api/accounts/")
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/json")

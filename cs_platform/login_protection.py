"""Login protection against password guessing, with django-axes: the hooks its settings
name (see ``AXES_*`` in settings/base.py and docs/operations.md).

Every way in that checks a password (the login page, the admin's login, the API's Basic
auth and its token endpoint) goes through ``django.contrib.auth.authenticate`` with the
request, where axes' backend refuses a locked-out account or address before the password
is hashed, and counts each failure. The API's token authentication counts invalid tokens
per address the same way (``cs_platform.api.authentication``).

- Failures are counted per account (username) and per client address; either one
  reaching ``LOGIN_FAILURE_LIMIT`` within ``LOGIN_LOCKOUT_MINUTES`` locks it until that
  many minutes have passed since its last failure (or a manager deletes its *access
  attempts* in the admin). A locked account is refused even with the right password.
- The answer to a locked-out attempt is a 429 with a message saying so: a page for the
  login forms, JSON ``{"detail": …}`` under ``/api/``.
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKOUT_STATUS = 429


def lockout_parameters(request: Any, credentials: dict | None = None) -> list[str]:
    """What failures are counted by: the username and, separately, the address; only the
    address when there is no username (an invalid API token)."""
    username = (credentials or {}).get("username")
    return ["username", "ip_address"] if username else ["ip_address"]


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind ``LOGIN_TRUSTED_PROXIES`` reverse
    proxies the address the outermost of them saw (that many entries from the right of
    ``X-Forwarded-For``; entries further left are the client's to forge)."""
    proxies = settings.LOGIN_TRUSTED_PROXIES
    meta = request.META
    if proxies:
        forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return meta.get("REMOTE_ADDR")


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed sign-in attempts: signing in is locked for {minutes} minutes "
        "after the last one. Try again later, or ask a manager to unlock it."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """The answer to an attempt while locked out (``AXES_LOCKOUT_CALLABLE``)."""
    message = lockout_message()
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=LOCKOUT_STATUS)
    else:
        response = render(
            request, "registration/locked_out.html", {"message": message}, status=LOCKOUT_STATUS
        )
    response["Retry-After"] = retry_after
    return response

from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

# Paths that handle their own authentication (the API answers 401/403 in JSON) or must be
# reachable before logging in.
PUBLIC_PREFIXES = ("/accounts/login/", "/static/", "/api/", "/admin/", "/healthz", "/favicon.ico")


class LoginRequiredMiddleware:
    """Login is required everywhere in the web UI, so no page can forget to ask for it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated and not request.path.startswith(PUBLIC_PREFIXES):
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)

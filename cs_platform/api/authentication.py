"""DRF's token and Basic authentication under the login protection
(``cs_platform.login_protection``): Basic auth hands Django's own request to
``authenticate``, so axes counts a failure and refuses a locked-out account or address
there, and the lockout answer (429) replaces the 401; an invalid token counts as a failure
of its address, and a locked-out address is refused before its token is looked up."""

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest
from drf_spectacular.authentication import BasicScheme
from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from cs_platform.login_protection import lockout_message

# A token carries no username: its failures count for the address only.
NO_USERNAME = {"username": None}


def django_request(request: Request | HttpRequest | None) -> HttpRequest | None:
    """The HttpRequest under DRF's Request: axes marks a locked-out attempt on it, where
    its middleware looks."""
    return getattr(request, "_request", request)


class BasicAuthentication(authentication.BasicAuthentication):
    def authenticate_credentials(
        self, userid: str, password: str, request: Any = None
    ) -> tuple[Any, None]:
        return super().authenticate_credentials(userid, password, django_request(request))


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        http_request = django_request(request)
        if not AxesProxyHandler.is_allowed(http_request, NO_USERNAME):
            http_request.axes_locked_out = True
            raise AuthenticationFailed(lockout_message())
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            user_login_failed.send(
                sender=type(self), credentials=dict(NO_USERNAME), request=http_request
            )
            raise


class BasicAuthenticationScheme(BasicScheme):
    """The OpenAPI schema's description of this Basic auth: DRF's (tokens are described
    already, subclasses included)."""

    target_class = BasicAuthentication
    priority = 0

"""API permissions, matching the web UI: anonymous users get nothing, CSMs read everything,
managers change everything; CSMs change only their own book's tasks (object checks in the
views that allow it)."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from cs_platform.roles import is_manager


class IsManagerOrReadOnly(BasePermission):
    """Any signed-in user may read; only managers may write."""

    message = "Only managers may change this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or is_manager(request.user)


class IsManager(BasePermission):
    """Managers only, whatever the method (actions such as recompute or rebuild)."""

    message = "Only managers may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and is_manager(request.user))

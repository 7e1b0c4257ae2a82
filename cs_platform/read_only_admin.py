"""Admin pages and inlines for rows that only the application writes (history, assignments,
queue entries): listed and shown, never added, changed or deleted by hand."""

from typing import Any

from django.http import HttpRequest


class ReadOnlyMixin:
    """Put before ``admin.ModelAdmin`` or an inline class (their add check takes ``obj`` too)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

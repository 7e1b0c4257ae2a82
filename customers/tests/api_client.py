"""Helpers for the API tests of every app: an API client signed in as a user."""

from typing import Any

from rest_framework.test import APIClient


def api_client(user: Any = None) -> APIClient:
    """An APIClient authenticated as ``user`` (anonymous when None)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client

"""Segment endpoints of the API: registered on the project router by cs_platform.api.urls."""

from django.urls import URLPattern
from rest_framework.routers import BaseRouter

from .views import AccountSegmentsViewSet, SegmentViewSet

urlpatterns: list[URLPattern] = []


def register(router: BaseRouter) -> None:
    """Register the segment viewsets on the API router."""
    router.register("segments", SegmentViewSet, basename="api-segment")
    # /api/accounts/{id}/segments/ and /api/accounts/{id}/explain/
    router.register("accounts", AccountSegmentsViewSet, basename="api-account-segments")

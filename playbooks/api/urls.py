"""Renewal, task and playbook endpoints: registered on the project router by
cs_platform.api.urls."""

from django.urls import URLPattern
from rest_framework.routers import BaseRouter

from .views import PlaybookViewSet, RenewalViewSet, TaskViewSet

urlpatterns: list[URLPattern] = []


def register(router: BaseRouter) -> None:
    """Register the playbooks app's viewsets on the API router."""
    router.register("renewals", RenewalViewSet, basename="api-renewal")
    router.register("tasks", TaskViewSet, basename="api-task")
    router.register("playbooks", PlaybookViewSet, basename="api-playbook")

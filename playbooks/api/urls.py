"""Renewal, task and playbook endpoints: registered on the project router by
cs_platform.api.urls."""

from django.urls import URLPattern, path
from rest_framework.routers import BaseRouter

from .renewals import (
    ChurnReasonViewSet,
    RenewalForecastTotalsView,
    RenewalForecastView,
    RenewalOutcomeListView,
    RenewalOutcomeView,
)
from .views import PlaybookViewSet, RenewalViewSet, TaskViewSet

urlpatterns: list[URLPattern] = [
    path(
        "renewals/forecast/",
        RenewalForecastTotalsView.as_view(),
        name="api-renewal-forecast-totals",
    ),
    path("renewals/outcomes/", RenewalOutcomeListView.as_view(), name="api-renewal-outcomes"),
    path(
        "renewals/<int:contract_id>/forecast/",
        RenewalForecastView.as_view(),
        name="api-renewal-forecast",
    ),
    path(
        "renewals/<int:contract_id>/outcome/",
        RenewalOutcomeView.as_view(),
        name="api-renewal-outcome",
    ),
]


def register(router: BaseRouter) -> None:
    """Register the playbooks app's viewsets on the API router."""
    router.register("renewals", RenewalViewSet, basename="api-renewal")
    router.register("tasks", TaskViewSet, basename="api-task")
    router.register("playbooks", PlaybookViewSet, basename="api-playbook")
    router.register("churn-reasons", ChurnReasonViewSet, basename="api-churn-reason")

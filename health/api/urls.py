from django.urls import path
from rest_framework.routers import BaseRouter

from .views import (
    AccountHealthChangesView,
    AccountHealthHistoryView,
    AccountHealthView,
    ManualEntryView,
    RecomputeView,
    ScorecardViewSet,
)


def register(router: BaseRouter) -> None:
    router.register("scorecards", ScorecardViewSet, basename="api-scorecard")


urlpatterns = [
    path(
        "accounts/<int:account_id>/health/", AccountHealthView.as_view(), name="api-account-health"
    ),
    path(
        "accounts/<int:account_id>/health/history/",
        AccountHealthHistoryView.as_view(),
        name="api-account-health-history",
    ),
    path(
        "accounts/<int:account_id>/health/changes/",
        AccountHealthChangesView.as_view(),
        name="api-account-health-changes",
    ),
    path(
        "accounts/<int:account_id>/health/manual/",
        ManualEntryView.as_view(),
        name="api-account-health-manual",
    ),
    path("health/recompute/", RecomputeView.as_view(), name="api-health-recompute"),
]

from django.urls import path

from .views import AccountUsageView, DailyIngestView, EventsIngestView, MetricListCreateView

urlpatterns = [
    path("usage/metrics/", MetricListCreateView.as_view(), name="api-usage-metrics"),
    path("usage/daily/", DailyIngestView.as_view(), name="api-usage-daily"),
    path("usage/events/", EventsIngestView.as_view(), name="api-usage-events"),
    path(
        "accounts/<int:account_id>/usage/",
        AccountUsageView.as_view(),
        name="api-account-usage",
    ),
]

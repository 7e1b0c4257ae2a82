"""The analytics pages, mounted at /analytics/ by cs_platform.urls."""

from django.urls import path

from . import analytics_views

urlpatterns = [
    path("", analytics_views.analytics_page, name="analytics"),
    path(
        "export/<slug:kind>.csv",
        analytics_views.analytics_csv,
        name="analytics-csv",
    ),
]

"""The analytics pages, mounted at /analytics/ by cs_platform.urls."""

from django.urls import path

from . import analytics_accounts, analytics_exports, analytics_views

urlpatterns = [
    path("", analytics_views.analytics_page, name="analytics"),
    path("accounts/", analytics_accounts.analytics_accounts, name="analytics-accounts"),
    path(
        "accounts/export.csv",
        analytics_accounts.analytics_accounts_csv,
        name="analytics-accounts-csv",
    ),
    path(
        "export/<slug:kind>.csv",
        analytics_exports.analytics_csv,
        name="analytics-csv",
    ),
]

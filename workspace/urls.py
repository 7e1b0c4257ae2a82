"""The workspace pages at the site's root (URL names used across templates and tests)."""

from django.urls import path

from . import health_views, owners, team, views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", views.account_list_view, name="account-list"),
    path("accounts/export.csv", views.account_export_view, name="account-export"),
    path("accounts/<int:account_id>/", views.account_detail_view, name="account-detail"),
    path(
        "accounts/<int:account_id>/timeline/",
        views.account_timeline_view,
        name="account-timeline",
    ),
    path("accounts/<int:account_id>/notes/", views.note_create_view, name="note-create"),
    path(
        "accounts/<int:account_id>/health/changes/",
        health_views.health_changes_view,
        name="account-health-changes",
    ),
    path(
        "accounts/<int:account_id>/health/manual/",
        health_views.health_manual_view,
        name="account-health-manual",
    ),
    path(
        "accounts/<int:account_id>/owners/assign/",
        owners.account_owner_assign_view,
        name="account-owner-assign",
    ),
    path(
        "accounts/<int:account_id>/owners/end/",
        owners.account_owner_end_view,
        name="account-owner-end",
    ),
    path("team/", team.team_view, name="team"),
]

"""The workspace pages at the site's root (URL names used across templates and tests)."""

from django.urls import path

from . import account_tasks, bulk, health_views, imports, owners, saved_views, search, team, views

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", search.search_view, name="search"),
    path("views/save/", saved_views.saved_view_save_view, name="saved-view-save"),
    path(
        "views/<int:view_id>/delete/",
        saved_views.saved_view_delete_view,
        name="saved-view-delete",
    ),
    path("accounts/bulk/", bulk.account_bulk_view, name="accounts-bulk"),
    path("tasks/bulk/", bulk.task_bulk_view, name="tasks-bulk"),
    path("accounts/", views.account_list_view, name="account-list"),
    path("accounts/export.csv", views.account_export_view, name="account-export"),
    path("accounts/import/", imports.account_import_view, name="account-import"),
    path(
        "accounts/import/template.csv",
        imports.account_import_template_view,
        name="account-import-template",
    ),
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
    path("team/change/", team.team_change_view, name="team-change"),
    path(
        "accounts/<int:account_id>/tasks/",
        account_tasks.account_task_create_view,
        name="account-task-create",
    ),
]

from django.urls import path

from . import builder_views, renewal_views, views

urlpatterns = [
    path("renewals/", views.renewal_queue_view, name="renewal-queue"),
    path("renewals/rebuild/", views.renewal_rebuild_view, name="renewal-rebuild"),
    path("renewals/forecast/", renewal_views.renewal_forecast_view, name="renewal-forecast"),
    path(
        "renewals/<int:contract_id>/",
        renewal_views.renewal_detail_view,
        name="renewal-detail",
    ),
    path(
        "renewals/rebuild/status/",
        views.renewal_rebuild_status_view,
        name="renewal-rebuild-status",
    ),
    path("tasks/", views.task_list_view, name="task-list"),
    path("tasks/<int:task_id>/complete/", views.task_complete_view, name="task-complete"),
    path("tasks/<int:task_id>/snooze/", views.task_snooze_view, name="task-snooze"),
    path("tasks/<int:task_id>/cancel/", views.task_cancel_view, name="task-cancel"),
    path("playbooks/", views.playbook_list_view, name="playbook-list"),
    path("playbooks/<int:playbook_id>/", views.playbook_detail_view, name="playbook-detail"),
    path("playbooks/new/", builder_views.playbook_builder_view, name="playbook-new"),
    path(
        "playbooks/<int:playbook_id>/edit/",
        builder_views.playbook_builder_view,
        name="playbook-edit",
    ),
    path(
        "playbooks/<int:playbook_id>/dry-run/",
        builder_views.playbook_dry_run_view,
        name="playbook-dry-run",
    ),
    path(
        "playbooks/<int:playbook_id>/activate/",
        builder_views.playbook_activate_view,
        name="playbook-activate",
    ),
    path(
        "playbooks/<int:playbook_id>/deactivate/",
        builder_views.playbook_deactivate_view,
        name="playbook-deactivate",
    ),
]

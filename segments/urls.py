from django.urls import path

from . import builder, views

urlpatterns = [
    path("", views.segment_list_view, name="segment-list"),
    path("new/", builder.segment_new_view, name="segment-new"),
    path("new/count/", builder.definition_count_view, name="segment-definition-count"),
    path(
        "<int:segment_id>/versions/count/",
        builder.definition_count_view,
        name="segment-version-count",
    ),
    path("<int:segment_id>/", views.segment_detail_view, name="segment-detail"),
    path(
        "<int:segment_id>/versions/new/", views.version_create_view, name="segment-version-create"
    ),
    path(
        "<int:segment_id>/versions/<int:number>/", views.version_detail_view, name="segment-version"
    ),
    path(
        "<int:segment_id>/versions/validate/",
        views.version_validate_view,
        name="segment-version-validate",
    ),
    path(
        "<int:segment_id>/versions/<int:number>/publish/",
        views.version_publish_view,
        name="segment-version-publish",
    ),
    path("<int:segment_id>/recompute/", views.segment_recompute_view, name="segment-recompute"),
    path(
        "<int:segment_id>/recompute/status/",
        views.segment_recompute_status_view,
        name="segment-recompute-status",
    ),
    path(
        "<int:segment_id>/explain/<int:account_id>/",
        views.segment_explain_view,
        name="segment-explain",
    ),
]

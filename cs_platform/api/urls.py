"""The REST API under /api/ (DESIGN section 8): one router for the viewsets of every app,
the token endpoint, the OpenAPI schema and its docs pages (served from
drf-spectacular-sidecar's static files, so they work offline)."""

import importlib.util

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter

from customers.api.crm_views import (
    PicklistListView,
    PicklistMergeView,
    PicklistValueCreateView,
    PicklistValueUpdateView,
    ProductViewSet,
)
from customers.api.imports import ImportJobViewSet, ImportProfileViewSet
from customers.api.views import (
    AccountViewSet,
    AssignmentViewSet,
    AttributeDefinitionViewSet,
    ContractViewSet,
    TokenView,
)
from health.api.urls import register as register_health
from health.api.urls import urlpatterns as health_urlpatterns
from playbooks.api.urls import register as register_playbooks
from playbooks.api.urls import urlpatterns as playbook_urlpatterns
from segments.api.urls import register as register_segments
from segments.api.urls import urlpatterns as segment_urlpatterns
from usage.api.urls import urlpatterns as usage_urlpatterns

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("accounts", AccountViewSet, basename="api-account")
router.register("contracts", ContractViewSet, basename="api-contract")
router.register("assignments", AssignmentViewSet, basename="api-assignment")
router.register("attributes", AttributeDefinitionViewSet, basename="api-attribute")
router.register("import-profiles", ImportProfileViewSet, basename="api-import-profile")
router.register("imports", ImportJobViewSet, basename="api-import")
router.register("products", ProductViewSet, basename="api-product")
register_segments(router)
register_health(router)
register_playbooks(router)

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    # Like everything else under /api/, the schema and its docs pages need a signed-in user.
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]),
        name="api-schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
        name="api-docs",
    ),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
        name="api-redoc",
    ),
    path(
        "imports/<int:pk>/rejected.csv",
        ImportJobViewSet.as_view({"get": "rejected"}),
        name="api-import-rejected",
    ),
    path("picklists/", PicklistListView.as_view(), name="api-picklists"),
    path(
        "picklists/<str:field>/values/",
        PicklistValueCreateView.as_view(),
        name="api-picklist-values",
    ),
    path(
        "picklists/<str:field>/values/<str:value_id>/",
        PicklistValueUpdateView.as_view(),
        name="api-picklist-value",
    ),
    path("picklists/<str:field>/merge/", PicklistMergeView.as_view(), name="api-picklist-merge"),
    *usage_urlpatterns,
    *segment_urlpatterns,
    *health_urlpatterns,
    *playbook_urlpatterns,
    path("", include(router.urls)),
]

# The three analytics endpoints (GET segments/{id}/metrics/, analytics/overlap/,
# analytics/cohorts/) live in segments/api/analytics.py, written separately; they are
# served once that module exists.
if importlib.util.find_spec("segments.api.analytics") is not None:
    urlpatterns.insert(0, path("", include("segments.api.analytics")))

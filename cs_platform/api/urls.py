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

from customers.api.views import (
    AccountViewSet,
    AssignmentViewSet,
    AttributeDefinitionViewSet,
    ContractViewSet,
    TokenView,
)
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
register_segments(router)
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
    *usage_urlpatterns,
    *segment_urlpatterns,
    *playbook_urlpatterns,
    path("", include(router.urls)),
]

# The three analytics endpoints (GET segments/{id}/metrics/, analytics/overlap/,
# analytics/cohorts/) live in segments/api/analytics.py, written separately; they are
# served once that module exists.
if importlib.util.find_spec("segments.api.analytics") is not None:
    urlpatterns.insert(0, path("", include("segments.api.analytics")))

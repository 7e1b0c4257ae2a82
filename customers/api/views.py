"""REST endpoints of the customer domain (DESIGN section 8). Views are thin: they check
permissions, validate with serializers and call customers.services / customers.bulk_upsert."""

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cs_platform.api.parsers import BulkJSONParser
from cs_platform.api.permissions import IsManager, IsManagerOrReadOnly
from customers import products, selectors, services
from customers.bulk_upsert import accounts_bulk_upsert
from customers.models import Account, AttributeDefinition, Contract, CSMAssignment

from .filters import AccountFilter, ContractFilter
from .serializers import (
    AccountBulkRequestDoc,
    AccountBulkSerializer,
    AccountSerializer,
    AssignmentSerializer,
    AttributeDefinitionSerializer,
    BulkResultSerializer,
    ContractSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)


class TokenView(APIView):
    """Exchange a username and password for an API token (``Authorization: Token …``)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer},
        auth=[],
        operation_id="auth_token_create",
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request=request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            return Response(
                {"non_field_errors": ["Unable to log in with the given username and password."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


@extend_schema_view(
    list=extend_schema(summary="List accounts"),
    create=extend_schema(summary="Create an account (managers)"),
    partial_update=extend_schema(summary="Change an account (managers)"),
    destroy=extend_schema(summary="Delete an account (managers)"),
)
class AccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Accounts (DESIGN section 1); ``arr``, ``renewal_date`` and ``csm`` are read-only."""

    queryset = Account.objects.all()
    serializer_class = AccountSerializer
    permission_classes = [IsManagerOrReadOnly]
    filterset_class = AccountFilter
    ordering_fields = [
        "id",
        "name",
        "external_id",
        "arr",
        "renewal_date",
        "health_score",
        "employees",
        "customer_since",
        "last_seen_at",
        "created_at",
        "updated_at",
    ]
    ordering = ["name", "id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        # CSMs see all accounts (DESIGN section 1); only writes are restricted.
        return selectors.account_list()

    def perform_create(self, serializer: AccountSerializer) -> None:
        serializer.instance = services.account_create(**serializer.validated_data)

    def perform_update(self, serializer: AccountSerializer) -> None:
        serializer.instance = services.account_update(
            account=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Account) -> None:
        services.account_delete(account=instance)

    @extend_schema(
        request=AccountBulkRequestDoc,
        responses={
            200: BulkResultSerializer,
            400: OpenApiResponse(
                description="With atomic=true and an invalid row: the same body as a 200, "
                "with created and updated 0 (nothing was written). A malformed request: "
                "{field: [messages]}."
            ),
        },
        summary="Upsert up to 100,000 accounts by external_id (managers)",
    )
    @action(detail=False, methods=["post"], url_path="bulk", parser_classes=[BulkJSONParser])
    def bulk(self, request: Request) -> Response:
        serializer = AccountBulkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        atomic = serializer.validated_data["atomic"]
        result = accounts_bulk_upsert(rows=serializer.validated_data["accounts"], atomic=atomic)
        body = {
            "created": result.created,
            "updated": result.updated,
            "errors": [
                {"index": e.index, "external_id": e.external_id, "errors": e.errors}
                for e in result.errors
            ],
        }
        failed = atomic and bool(result.errors)
        return Response(body, status=status.HTTP_400_BAD_REQUEST if failed else status.HTTP_200_OK)


class ContractViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Contracts; ``account`` is the account id; ``items`` the line items (product code,
    quantity, ARR share). Writes re-derive the account's ARR."""

    queryset = Contract.objects.all()
    serializer_class = ContractSerializer
    permission_classes = [IsManagerOrReadOnly]
    filterset_class = ContractFilter
    ordering_fields = ["id", "start_date", "end_date", "arr", "created_at", "updated_at"]
    ordering = ["end_date", "id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.contract_list()

    def perform_create(self, serializer: ContractSerializer) -> None:
        data = dict(serializer.validated_data)
        account = data.pop("account")
        items = data.pop("items", None)
        serializer.instance = products.contract_create_with_items(
            account=account, items=items, **data
        )

    def perform_update(self, serializer: ContractSerializer) -> None:
        data = dict(serializer.validated_data)
        data.pop("account", None)  # the serializer refused any other account
        items = data.pop("items", None)
        serializer.instance = products.contract_update_with_items(
            contract=serializer.instance, data=data, items=items
        )


class AssignmentViewSet(mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Assign a user to an account in a role (managers). The previous owner's assignment
    is closed, so the history of ownership is kept."""

    queryset = CSMAssignment.objects.all()
    serializer_class = AssignmentSerializer
    permission_classes = [IsManager]

    def perform_create(self, serializer: AssignmentSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = services.csm_assign(
            account=data["account"], user=data["user"], role=data["role"]
        )


class AttributeDefinitionViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Custom attribute definitions (``traits.KEY`` in rules)."""

    queryset = AttributeDefinition.objects.all()
    serializer_class = AttributeDefinitionSerializer
    permission_classes = [IsManagerOrReadOnly]
    ordering_fields = ["key", "label", "id"]
    ordering = ["key"]

    def perform_create(self, serializer: AttributeDefinitionSerializer) -> None:
        serializer.instance = services.attribute_definition_create(**serializer.validated_data)

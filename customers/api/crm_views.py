"""REST endpoints of the CRM vocabularies (DESIGN 10): the picklists and the product
catalogue. Thin: permissions, serializers, then customers.picklists / customers.products."""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cs_platform.api.params import path_int
from cs_platform.api.permissions import IsManagerOrReadOnly
from customers import picklists, products, selectors
from customers.models import Picklist, PicklistValue, Product

from .serializers import (
    PicklistMergeSerializer,
    PicklistSerializer,
    PicklistValueSerializer,
    ProductSerializer,
)


def _picklist(field: str) -> Picklist:
    try:
        return Picklist.objects.get(field=field)
    except Picklist.DoesNotExist:
        raise Http404(f"No picklist for the field {field!r}.") from None


class PicklistListView(APIView):
    """Every picklist with its values, in order."""

    permission_classes = [IsManagerOrReadOnly]

    @extend_schema(responses={200: PicklistSerializer(many=True)}, operation_id="picklists_list")
    def get(self, request: Request) -> Response:
        return Response(PicklistSerializer(selectors.picklist_list(), many=True).data)


class PicklistValueCreateView(APIView):
    """Add a value to a picklist (managers); a value present in another casing is a 400."""

    permission_classes = [IsManagerOrReadOnly]

    @extend_schema(
        request=PicklistValueSerializer,
        responses={201: PicklistValueSerializer},
        operation_id="picklist_values_create",
    )
    def post(self, request: Request, field: str) -> Response:
        picklist = _picklist(field)
        serializer = PicklistValueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = picklists.picklist_value_add(picklist=picklist, **serializer.validated_data)
        return Response(PicklistValueSerializer(item).data, status=status.HTTP_201_CREATED)


class PicklistValueUpdateView(APIView):
    """Change a value's label, order or active flag; a new ``value`` renames it and
    rewrites the accounts that hold it (refused while a published rule uses it)."""

    permission_classes = [IsManagerOrReadOnly]

    @extend_schema(
        request=PicklistValueSerializer,
        responses={200: PicklistValueSerializer},
        operation_id="picklist_values_partial_update",
    )
    def patch(self, request: Request, field: str, value_id: str) -> Response:
        picklist = _picklist(field)
        pk = path_int(value_id)
        item = picklist.values.filter(pk=pk).first() if pk is not None else None
        if item is None:
            raise Http404("No such value in this picklist.")
        serializer = PicklistValueSerializer(item, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        item = picklists.picklist_value_update(item=item, data=dict(serializer.validated_data))
        return Response(PicklistValueSerializer(item).data)


class PicklistMergeView(APIView):
    """Merge ``from`` into ``into`` (managers): every account holding ``from`` gets
    ``into``, set-based, and its segments re-evaluate; ``from`` is deleted."""

    permission_classes = [IsManagerOrReadOnly]

    @extend_schema(request=PicklistMergeSerializer, operation_id="picklist_merge")
    def post(self, request: Request, field: str) -> Response:
        picklist = _picklist(field)
        serializer = PicklistMergeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rewritten = picklists.picklist_values_merge(
            picklist=picklist, from_value=data["from"], into_value=data["into"]
        )
        into = PicklistValue.objects.get(picklist=picklist, value__iexact=data["into"])
        return Response(
            {"field": field, "from": data["from"], "into": into.value, "accounts": rewritten}
        )


class ProductViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """The product catalogue (code, name, family) that contract line items sell."""

    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    permission_classes = [IsManagerOrReadOnly]
    ordering_fields = ["code", "name", "family", "id"]
    ordering = ["code"]

    def get_queryset(self) -> Any:
        return selectors.product_list()

    def perform_create(self, serializer: ProductSerializer) -> None:
        serializer.instance = products.product_create(**serializer.validated_data)

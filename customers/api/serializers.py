"""Serializers of the customer domain: validation and representation only; writes go
through customers.services (the same functions the UI and admin call)."""

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from customers.bulk_upsert import MAX_BULK_ROWS
from customers.field_values import has_nul
from customers.models import (
    Account,
    AssignmentRole,
    AttributeDefinition,
    Contract,
    ContractItem,
    CSMAssignment,
    Picklist,
    PicklistValue,
    Product,
)
from customers.services import ACCOUNT_EDITABLE_FIELDS, CONTRACT_EDITABLE_FIELDS


class AccountSerializer(serializers.ModelSerializer):
    csm = serializers.CharField(
        source="owner.username",
        read_only=True,
        allow_null=True,
        help_text="Username of the current owner CSM (null when unassigned).",
    )
    traits = serializers.DictField(
        required=False,
        help_text="Custom attributes: keys declared at /api/attributes/, values of their type.",
    )

    class Meta:
        model = Account
        fields = [
            "id",
            *ACCOUNT_EDITABLE_FIELDS,
            "health_score",
            "arr",
            "renewal_date",
            "csm",
            "created_at",
            "updated_at",
        ]
        # health_score is the computed health score (docs/health.md).
        read_only_fields = ["health_score", "arr", "renewal_date", "created_at", "updated_at"]

    def validate_traits(self, value: dict[str, Any]) -> dict[str, Any]:
        if has_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        return value


class AccountMemberSerializer(AccountSerializer):
    """An account as a segment member: the account plus when it entered."""

    entered_at = serializers.DateTimeField(read_only=True)

    class Meta(AccountSerializer.Meta):
        fields = [*AccountSerializer.Meta.fields, "entered_at"]


class AccountRowsField(serializers.Field):
    """A list of account objects, validated row by row by the bulk upsert service (so one
    bad row does not fail the others)."""

    default_error_messages = {
        "not_a_list": "Expected a list of accounts.",
        "too_many": f"At most {MAX_BULK_ROWS} accounts per request.",
    }

    def to_internal_value(self, data: Any) -> list[Any]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if len(data) > MAX_BULK_ROWS:
            self.fail("too_many")
        return data


class AccountBulkSerializer(serializers.Serializer):
    accounts = AccountRowsField()
    atomic = serializers.BooleanField(
        default=False, help_text="Reject the whole request (400, nothing written) on any error."
    )


class AccountBulkRequestDoc(serializers.Serializer):
    """The request as documented in the schema (rows validated by the service)."""

    accounts = AccountSerializer(many=True, max_length=MAX_BULK_ROWS)
    atomic = serializers.BooleanField(default=False)


class BulkRowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    errors = BulkRowErrorSerializer(many=True)


class ContractItemSerializer(serializers.ModelSerializer):
    product = serializers.SlugRelatedField(slug_field="code", queryset=Product.objects.all())
    quantity = serializers.IntegerField(min_value=1, max_value=2_147_483_647, default=1)
    arr = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"), default=Decimal("0")
    )

    class Meta:
        model = ContractItem
        fields = ["product", "quantity", "arr"]


class ContractSerializer(serializers.ModelSerializer):
    items = ContractItemSerializer(
        many=True,
        required=False,
        help_text="Line items (product code, quantity, ARR share); a write replaces them all.",
    )

    class Meta:
        model = Contract
        fields = ["id", "account", *CONTRACT_EDITABLE_FIELDS, "items", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate_account(self, value: Account) -> Account:
        if self.instance is not None and value.pk != self.instance.account_id:
            raise serializers.ValidationError("A contract cannot move to another account.")
        return value


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "code", "name", "family"]


class PicklistValueSerializer(serializers.ModelSerializer):
    class Meta:
        model = PicklistValue
        fields = ["id", "value", "label", "order", "is_active"]


class PicklistSerializer(serializers.ModelSerializer):
    values = PicklistValueSerializer(many=True, read_only=True)

    class Meta:
        model = Picklist
        fields = ["field", "accept_new_values", "values"]


# ``{"from": "Tech", "into": "Technology"}``; "from" is a Python keyword, hence type().
PicklistMergeSerializer = type(
    "PicklistMergeSerializer",
    (serializers.Serializer,),
    {
        "from": serializers.CharField(max_length=100),
        "into": serializers.CharField(max_length=100),
    },
)


class AssignmentSerializer(serializers.ModelSerializer):
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.all())
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True)
    )
    role = serializers.ChoiceField(choices=AssignmentRole.choices, default=AssignmentRole.OWNER)

    class Meta:
        model = CSMAssignment
        fields = ["id", "account", "user", "role", "started_at", "ended_at"]
        read_only_fields = ["started_at", "ended_at"]
        validators: list = []  # uniqueness of current roles is the service's business


class AttributeDefinitionSerializer(serializers.ModelSerializer):
    choices = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="The allowed values of a choice attribute.",
    )

    class Meta:
        model = AttributeDefinition
        fields = ["id", "key", "label", "type", "choices", "description"]


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()

"""Serializers of segments, versions, members and events: validation and representation
only; rules are validated by the rule engine inside segments.services, whose errors name
the path of the bad node."""

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from cs_platform.api.serializers import BoundedJSONField
from customers.api.serializers import AccountSerializer, has_nul
from segments.models import MembershipEvent, Segment, SegmentKind, SegmentVersion

RULE_HELP = (
    'The rule (DESIGN section 3), e.g. {"all": [{"field": "arr", "op": "gte", '
    '"value": 100000}]}; errors name the path of the bad node.'
)


class RuleField(BoundedJSONField):
    """A rule as JSON; its meaning is checked by the rule engine (in the service)."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if has_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        return value


class SegmentSerializer(serializers.ModelSerializer):
    """A segment as listed and changed (``PATCH``: its own fields; the rule changes through
    a new version)."""

    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        required=False,
    )
    current_version = serializers.IntegerField(
        source="current_version.number",
        read_only=True,
        allow_null=True,
        help_text="Number of the published version in force (null before the first).",
    )
    rule = serializers.JSONField(
        source="current_version.rule",
        read_only=True,
        allow_null=True,
        help_text="The current version's rule.",
    )
    kind = serializers.ChoiceField(choices=SegmentKind.choices, read_only=True)

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "kind",
            "owner",
            "is_active",
            "review_every_days",
            "last_reviewed_at",
            "exclusive_group",
            "priority",
            "current_version",
            "rule",
            "member_count",
            "arr",
            "last_computed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "last_reviewed_at",
            "exclusive_group",
            "member_count",
            "arr",
            "last_computed_at",
            "created_at",
            "updated_at",
        ]


class SegmentCreateSerializer(serializers.Serializer):
    """``POST /api/segments/``: the segment and its version 1 (published with
    ``publish``)."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=SegmentKind.choices, default=SegmentKind.DYNAMIC)
    rule = RuleField(required=False, default=None, help_text=RULE_HELP)
    rank_by = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    rank_limit = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=2_147_483_647
    )
    publish = serializers.BooleanField(default=False)
    review_every_days = serializers.IntegerField(
        required=False, min_value=1, max_value=2_147_483_647
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class SegmentVersionSerializer(serializers.ModelSerializer):
    rule = RuleField(help_text=RULE_HELP)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )
    is_published = serializers.BooleanField(read_only=True)
    rank_limit = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2_147_483_647
    )

    class Meta:
        model = SegmentVersion
        fields = [
            "number",
            "rule",
            "rank_by",
            "rank_limit",
            "note",
            "created_by",
            "created_at",
            "published_at",
            "is_published",
        ]
        read_only_fields = ["number", "created_at", "published_at"]


class MemberSerializer(AccountSerializer):
    """A member: the account as in /api/accounts/ plus when it entered."""

    entered_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta(AccountSerializer.Meta):
        fields = [*AccountSerializer.Meta.fields, "entered_at"]


class AccountSegmentSerializer(SegmentSerializer):
    """One of an account's current segments, with when the account entered it."""

    entered_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta(SegmentSerializer.Meta):
        fields = [*SegmentSerializer.Meta.fields, "entered_at"]


class PreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    arr = serializers.DecimalField(max_digits=16, decimal_places=2)
    entering_count = serializers.IntegerField()
    exiting_count = serializers.IntegerField()
    sample = AccountSerializer(many=True)
    entering = AccountSerializer(many=True)
    exiting = AccountSerializer(many=True)


class EventSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True, allow_null=True)

    class Meta:
        model = MembershipEvent
        fields = ["account", "kind", "at", "version"]
        read_only_fields = fields


class ExplainNodeSerializer(serializers.Serializer):
    """A rule node with ``matched`` added; leaves also carry ``actual``; ``all`` / ``any``
    / ``not`` hold their explained children."""

    matched = serializers.BooleanField()


class ExplainSerializer(serializers.Serializer):
    segment = serializers.IntegerField()
    version = serializers.IntegerField()
    account = serializers.IntegerField()
    matched = serializers.BooleanField()
    explanation = serializers.DictField(help_text=ExplainNodeSerializer.__doc__)
    member = serializers.BooleanField(required=False)
    admitted = serializers.BooleanField(required=False)

"""Serializers of the health API: output shapes and query parameters. Definitions are
validated by ``health.definitions`` (through the services), so the admin, the API and a
draft share one set of checks."""

from typing import Any

from rest_framework import serializers

from ..definitions import spec_from_scorecard
from ..models import Scorecard


class MeasureSerializer(serializers.Serializer):
    """One measure (DESIGN 12): ``field`` with ``bad``/``good``, ``condition`` with
    ``rule``, or ``manual`` with ``valid_days``; the other keys are absent."""

    key = serializers.CharField(max_length=50)
    label = serializers.CharField(max_length=200, required=False)
    weight = serializers.DecimalField(max_digits=8, decimal_places=2)
    source = serializers.ChoiceField(choices=["field", "condition", "manual"])
    field = serializers.CharField(required=False)
    bad = serializers.DecimalField(max_digits=20, decimal_places=6, required=False)
    good = serializers.DecimalField(max_digits=20, decimal_places=6, required=False)
    rule = serializers.JSONField(required=False)
    valid_days = serializers.IntegerField(required=False, min_value=1)


class ScorecardSerializer(serializers.Serializer):
    """``{id, name, segment, priority, red_below, green_from, measures: [...], has_draft,
    draft_updated_at}`` (DESIGN 12's shape plus the id and the draft's state). Writes are
    validated by the service (``health.definitions``), not here: this declares the shape."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    segment = serializers.IntegerField(allow_null=True)
    priority = serializers.IntegerField(required=False, min_value=0)
    red_below = serializers.IntegerField(required=False, min_value=0, max_value=100)
    green_from = serializers.IntegerField(required=False, min_value=0, max_value=100)
    measures = MeasureSerializer(many=True)
    has_draft = serializers.BooleanField(read_only=True)
    draft_updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def to_representation(self, instance: Scorecard) -> dict[str, Any]:
        payload = spec_from_scorecard(instance, instance.measures.all()).as_payload()
        return {
            "id": instance.pk,
            **payload,
            "has_draft": instance.draft is not None,
            "draft_updated_at": serializers.DateTimeField().to_representation(
                instance.draft_updated_at
            )
            if instance.draft_updated_at
            else None,
        }


class DraftSerializer(serializers.BaseSerializer):
    def to_representation(self, instance: Scorecard) -> dict[str, Any]:
        return {
            "scorecard": instance.pk,
            "draft": instance.draft,
            "draft_updated_at": instance.draft_updated_at,
        }


class AsOfQuerySerializer(serializers.Serializer):
    as_of = serializers.DateField(required=False)


class SinceQuerySerializer(serializers.Serializer):
    since = serializers.DateField(required=False)


class ChangesQuerySerializer(serializers.Serializer):
    # "from" is a keyword: the serializer reads it under that name (see the view).
    start = serializers.DateField(source="from")
    end = serializers.DateField(source="to")


class HistoryPointSerializer(serializers.Serializer):
    """One change of an account's health: the values from ``day`` on."""

    day = serializers.DateField()
    score = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    scorecard = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(
        allow_null=True, help_text="The version of the scorecard's definition that produced it."
    )


class ManualEntryInputSerializer(serializers.Serializer):
    measure = serializers.CharField(help_text="The manual measure's key (or its id).")
    score = serializers.JSONField(help_text="A whole number from 0 to 100.")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ManualEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    measure = serializers.CharField(source="measure.key")
    score = serializers.IntegerField()
    comment = serializers.CharField()
    entered_by = serializers.CharField(source="entered_by.username", allow_null=True)
    entered_on = serializers.DateField()
    entered_at = serializers.DateTimeField()

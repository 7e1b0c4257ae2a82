"""Serializers of the health API: output shapes and query parameters. Definitions are
validated by ``health.definitions`` (through the services), so the admin, the API and a
draft share one set of checks."""

from typing import Any

from rest_framework import serializers

from ..definitions import spec_from_scorecard
from ..models import Scorecard


class ScorecardSerializer(serializers.BaseSerializer):
    """``{id, name, segment, priority, red_below, green_from, measures: [...], has_draft,
    draft_updated_at}`` (DESIGN 12's shape plus the id and the draft's state)."""

    def to_representation(self, instance: Scorecard) -> dict[str, Any]:
        payload = spec_from_scorecard(instance, instance.measures.all()).as_payload()
        return {
            "id": instance.pk,
            **payload,
            "has_draft": instance.draft is not None,
            "draft_updated_at": instance.draft_updated_at,
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

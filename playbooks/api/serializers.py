"""Serializers of renewals, tasks and playbooks: validation and representation only;
writes go through playbooks.services."""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from playbooks.models import (
    Playbook,
    PlaybookRun,
    PlaybookStepRun,
    RenewalForecast,
    RenewalQueueEntry,
    StepKind,
    Task,
    TaskStatus,
)
from playbooks.services import PLAYBOOK_FIELDS


class RenewalEntrySerializer(serializers.ModelSerializer):
    window = serializers.IntegerField(
        source="window.days",
        read_only=True,
        allow_null=True,
        help_text="The window's days (T-N); null when the contract is overdue.",
    )
    days_left = serializers.IntegerField(read_only=True)
    csm = serializers.CharField(source="csm.username", read_only=True, allow_null=True)
    forecast = serializers.ChoiceField(
        choices=RenewalForecast.choices,
        read_only=True,
        allow_null=True,
        help_text="The owner's forecast of this renewal; null when none is set.",
    )
    expected_arr = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="The ARR the forecast expects; null when none is set.",
    )

    class Meta:
        model = RenewalQueueEntry
        fields = [
            "contract",
            "account",
            "window",
            "days_left",
            "renewal_date",
            "arr",
            "csm",
            "overdue",
            "forecast",
            "expected_arr",
        ]
        read_only_fields = fields


class TaskSerializer(serializers.ModelSerializer):
    assignee = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        required=False,
    )
    window = serializers.IntegerField(
        source="window.days",
        read_only=True,
        allow_null=True,
        help_text="Renewal tasks: the window's days (T-N).",
    )
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    note = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Kept in the task's status history with a status change.",
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "account",
            "assignee",
            "title",
            "description",
            "due_date",
            "status",
            "snoozed_until",
            "source",
            "contract",
            "window",
            "playbook_run",
            "created_at",
            "completed_at",
            "note",
        ]
        read_only_fields = [
            "account",
            "source",
            "contract",
            "playbook_run",
            "created_at",
            "completed_at",
        ]


class PlaybookStepSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=StepKind.choices)
    config = serializers.DictField(
        required=False, help_text="Per kind: see playbooks.steps (validated with paths)."
    )


class PlaybookSerializer(serializers.ModelSerializer):
    steps = PlaybookStepSerializer(many=True, required=False)
    fallback_assignee = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="Username that gets the owner's tasks of accounts without an owner.",
    )

    class Meta:
        model = Playbook
        fields = ["id", *PLAYBOOK_FIELDS, "activated_at", "steps", "created_at", "updated_at"]
        read_only_fields = ["activated_at", "created_at", "updated_at"]


class StepRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlaybookStepRun
        fields = ["order", "kind", "outcome", "attempts", "detail", "started_at", "finished_at"]
        read_only_fields = fields


class PlaybookRunSerializer(serializers.ModelSerializer):
    steps = StepRunSerializer(source="step_runs", many=True, read_only=True)

    class Meta:
        model = PlaybookRun
        fields = [
            "id",
            "playbook",
            "account",
            "membership_event",
            "status",
            "detail",
            "triggered_at",
            "created_at",
            "started_at",
            "finished_at",
            "steps",
        ]
        read_only_fields = fields


class DryRunStepSerializer(serializers.Serializer):
    order = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=StepKind.choices)
    would = serializers.ChoiceField(choices=["run", "skip", "fail"])


class DryRunRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class DryRunAccountSerializer(serializers.Serializer):
    account = DryRunRefSerializer()
    steps = serializers.ListField(
        child=serializers.DictField(),
        help_text="Per step: order, kind, would (run, skip, fail) and what it would do "
        "(title, assignee, subject, to, stage, url, note …).",
    )


class DryRunSerializer(serializers.Serializer):
    playbook = DryRunRefSerializer()
    segment = DryRunRefSerializer()
    members = serializers.IntegerField()
    shown = serializers.IntegerField()
    accounts = DryRunAccountSerializer(many=True)

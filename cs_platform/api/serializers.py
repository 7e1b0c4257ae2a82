"""Serializers shared by the API of every app."""

from rest_framework import serializers


class QueuedSerializer(serializers.Serializer):
    """The body of a 202: the work was queued and runs in the background."""

    status = serializers.CharField(help_text='"queued"')

"""Serializers and fields shared by the API of every app."""

from typing import Any

from rest_framework import serializers

from cs_platform.json_limits import (
    MAX_JSON_DEPTH,
    DepthLimitedDecoder,
    JSONTooDeep,
    text_depth_check,
    value_depth_check,
)


class BoundedJSONField(serializers.JSONField):
    """DRF's JSON field under the nesting bound: a value nested more than
    ``MAX_JSON_DEPTH`` levels is a 400 naming the field, whether it came decoded in a
    JSON body or as a JSON string in a form."""

    default_error_messages = {
        "too_deep": f"Nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays and objects)."
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("decoder", DepthLimitedDecoder)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        try:
            if isinstance(data, str | bytes):
                text_depth_check(data)
            else:
                value_depth_check(data)
        except JSONTooDeep:
            self.fail("too_deep")
        return super().to_internal_value(data)


class QueuedSerializer(serializers.Serializer):
    """The body of a 202: the work was queued and runs in the background."""

    status = serializers.CharField(help_text='"queued"')

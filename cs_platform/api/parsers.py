"""A JSON parser for large bulk requests.

DRF's JSONParser reads ``request.body``, which Django caps at DATA_UPLOAD_MAX_MEMORY_SIZE
(2.5 MB by default): far below a 10,000-account bulk upsert (about 6 MB). This parser
reads the stream itself with its own, larger bound, so only the endpoints that use it
accept big bodies."""

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from .exceptions import RequestTooLarge

# 10,000 accounts with every field and a few custom attributes stay well under this.
BULK_MAX_BODY_BYTES = 64 * 1024 * 1024


class BulkJSONParser(BaseParser):
    media_type = "application/json"
    max_bytes = BULK_MAX_BODY_BYTES

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is None:
            return {}
        raw = stream.read(self.max_bytes + 1)
        if len(raw) > self.max_bytes:
            raise RequestTooLarge(f"The request body is larger than {self.max_bytes} bytes.")
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")

"""JSON parsers: DRF's, with a body nested too deeply to parse answered as a 400, and a
variant with a larger size bound for bulk requests.

DRF's JSONParser reads ``request.body``, which Django caps at DATA_UPLOAD_MAX_MEMORY_SIZE
(2.5 MB by default): far below a 10,000-account bulk upsert (about 6 MB) or a 100,000-row
usage batch (about 7.5 MB). The bulk parser reads the stream itself with its own, larger
bound, so only the endpoints that use it accept big bodies. It is deliberately not a
subclass of DRF's JSONParser: DRF hands every JSONParser instance ``request.body`` (and so
Django's cap) instead of the stream, so it delegates the decoding to one instead."""

import io
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .exceptions import RequestTooLarge

# 10,000 accounts with every field and a few custom attributes stay well under this.
BULK_MAX_BODY_BYTES = 64 * 1024 * 1024


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Caught here, not in the exception handler, so that a RecursionError that is
            # a bug elsewhere still surfaces as one.
            raise ParseError("The JSON body is nested too deeply.") from None


class BulkJSONParser(parsers.BaseParser):
    media_type = JSONParser.media_type
    renderer_class = JSONParser.renderer_class
    max_bytes = BULK_MAX_BODY_BYTES

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is None:
            return {}
        raw = stream.read(self.max_bytes + 1)
        if len(raw) > self.max_bytes:
            raise RequestTooLarge(f"The request body is larger than {self.max_bytes} bytes.")
        return JSONParser().parse(io.BytesIO(raw), media_type, parser_context)

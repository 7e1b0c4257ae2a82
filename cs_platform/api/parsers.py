"""JSON parsers: DRF's, with a body nested more deeply than ``MAX_JSON_DEPTH`` levels
refused with a 400 before it is decoded (``cs_platform.json_limits``: no recursion, so no
RecursionError however deep), and a variant with a larger size bound for bulk requests.

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

from cs_platform.json_limits import JSONTooDeep, text_depth_check

from .exceptions import RequestTooLarge

# 10,000 accounts with every field and a few custom attributes stay well under this.
BULK_MAX_BODY_BYTES = 64 * 1024 * 1024


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            text_depth_check(raw)
        except JSONTooDeep as exc:
            raise ParseError(f"JSON parse error - the body is {exc}.") from None
        return super().parse(io.BytesIO(raw), media_type, parser_context)


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

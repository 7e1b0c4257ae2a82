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

from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

from cs_platform.json_limits import JSONTooDeep, text_depth_check

# The bound of the bulk endpoints (accounts upsert, usage ingestion): 100,000 rows of
# usage or of accounts with a few fields stay under it (100,000 accounts with every field
# and a few custom attributes come to about 50 MB).
BULK_MAX_BODY_BYTES = 64 * 1024 * 1024


class RequestTooLarge(APIException):
    # Here, not in .exceptions (which imports rest_framework.views, whose APIView loads the
    # parser classes the settings name: this module).
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def body_too_large(max_bytes: int) -> RequestTooLarge:
    """The 413 of a body over ``max_bytes``, saying the bound."""
    size = f"{max_bytes // 2**20} MiB" if max_bytes % 2**20 == 0 else f"{max_bytes:,} bytes"
    return RequestTooLarge(
        f"The request body is larger than {size}, the most this endpoint accepts."
    )


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
            raise body_too_large(self.max_bytes)
        return JSONParser().parse(io.BytesIO(raw), media_type, parser_context)

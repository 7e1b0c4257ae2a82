"""A bound on how deeply JSON input may nest, checked without recursion.

Python's JSON decoder, and any recursive walk over what it returns (validation, NUL
checks, ``json.dumps``), recurse once per level: a body nested a thousand levels deep
ends in a RecursionError, a 500. Nothing this product stores needs more than a few levels
(a rule is at most 10 deep), so every JSON input is refused past ``MAX_JSON_DEPTH``
levels of arrays and objects, when it is parsed:

- ``text_depth_check`` scans the raw text (bytes or str) with bytes operations and one
  pass over its brackets, before the decoder sees it;
- ``value_depth_check`` walks an already-decoded value with an explicit stack;
- ``loads`` does the first and then decodes; ``DepthLimitedDecoder`` is the same for code
  that takes a decoder class (Django's and DRF's JSON fields).

The API's JSON parsers (``cs_platform.api.parsers``), its JSON fields
(``cs_platform.api.serializers.BoundedJSONField``) and the forms' JSON fields
(``cs_platform.json_forms``) use these.
"""

import json
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 64

_NOT_QUOTES_OR_BRACKETS = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class JSONTooDeep(ValueError):
    """The input nests arrays and objects more deeply than allowed."""

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        super().__init__(f"nested too deeply (more than {limit} levels of arrays and objects)")


def text_depth(text: str | bytes) -> int:
    """The deepest nesting of arrays and objects in JSON ``text``, brackets inside strings
    aside (on text that is not valid JSON, an estimate; the decoder refuses it anyway).

    Built from bytes operations that run at C speed, one pass in Python over the brackets
    only: escaped backslashes and quotes are dropped (left to right, as JSON pairs them),
    so every quote left opens or closes a string; all but quotes and brackets is dropped;
    two adjacent quotes are dropped too (an empty string, or two strings with no bracket
    between them merged into one: the same brackets stay outside strings); then the text
    outside strings is what stands at even positions between the quotes."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    quotes_and_brackets = unescaped.translate(None, _NOT_QUOTES_OR_BRACKETS).replace(b'""', b"")
    outside = b"".join(quotes_and_brackets.split(b'"')[0::2])
    return max(accumulate(map(_STEP.__getitem__, outside)), default=0)


def text_depth_check(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise JSONTooDeep when JSON ``text`` nests deeper than ``limit``."""
    if text_depth(text) > limit:
        raise JSONTooDeep(limit)


def value_depth_check(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise JSONTooDeep when a decoded value nests lists and dicts deeper than ``limit``
    (an explicit stack, so any depth is safe to check)."""
    if not isinstance(value, dict | list):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise JSONTooDeep(limit)
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))


def loads(text: str | bytes, **kwargs: Any) -> Any:
    """``json.loads`` for input that may nest too deeply: JSONTooDeep (a ValueError) first."""
    text_depth_check(text)
    return json.loads(text, **kwargs)


class DepthLimitedDecoder(json.JSONDecoder):
    """A decoder that refuses too deep input with a JSONDecodeError naming the problem
    (for Django's and DRF's JSON fields, which catch that error)."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        try:
            text_depth_check(s)
        except JSONTooDeep as exc:
            raise json.JSONDecodeError(str(exc), s, 0) from None
        return super().decode(s, *args, **kwargs)

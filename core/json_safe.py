"""JSON with a nesting limit: deeply nested input is a 400 (or a form error), never a
RecursionError escaping as a 500 from the parser or from code that walks the value later.

Every place that parses outside JSON uses it: the API's parser (``core.parsers``), the
webhooks, and admin form fields (``SafeJSONDecoder``).
"""

import json
from typing import Any

from django.conf import settings


class JsonTooDeep(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels.")
        self.limit = limit


def max_depth() -> int:
    return int(getattr(settings, "JSON_MAX_DEPTH", 32))


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest deeper than ``limit`` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def check_depth(value: Any, limit: int | None = None) -> Any:
    limit = max_depth() if limit is None else limit
    if depth_exceeds(value, limit):
        raise JsonTooDeep(limit)
    return value


def loads(data: str | bytes, *, limit: int | None = None, **kwargs: Any) -> Any:
    """``json.loads`` that raises ``JsonTooDeep`` (a ValueError) past the nesting limit."""
    limit = max_depth() if limit is None else limit
    try:
        value = json.loads(data, **kwargs)
    except RecursionError:
        raise JsonTooDeep(limit)
    return check_depth(value, limit)


class SafeJSONDecoder(json.JSONDecoder):
    """For ``forms.JSONField(decoder=...)``: too deep is an invalid-JSON form error."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        try:
            value = super().decode(s, *args, **kwargs)
        except RecursionError:
            raise json.JSONDecodeError("JSON nested too deeply", s, 0)
        if depth_exceeds(value, max_depth()):
            raise json.JSONDecodeError("JSON nested too deeply", s, 0)
        return value

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


class JsonHasNul(ValueError):
    """A string or key holds U+0000, which PostgreSQL refuses in text and JSON."""

    def __init__(self) -> None:
        super().__init__("JSON strings must not contain NUL (\\u0000).")


def max_depth() -> int:
    return int(getattr(settings, "JSON_MAX_DEPTH", 32))


def _walk(value: Any, limit: int, *, nul: bool) -> None:
    """Raise JsonTooDeep past ``limit`` levels of arrays/objects and, with ``nul``,
    JsonHasNul for a NUL in a string or key (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if nul and "\x00" in item:
                raise JsonHasNul()
            continue
        if isinstance(item, dict):
            if nul and any("\x00" in key for key in item):
                raise JsonHasNul()
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > limit:
            raise JsonTooDeep(limit)
        stack.extend((child, level + 1) for child in children)


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest deeper than ``limit``."""
    try:
        _walk(value, limit, nul=False)
    except JsonTooDeep:
        return True
    return False


def check(value: Any, limit: int | None = None) -> Any:
    """``value`` if it nests at most ``limit`` deep and holds no NUL, else a ValueError."""
    _walk(value, max_depth() if limit is None else limit, nul=True)
    return value


def loads(data: str | bytes, *, limit: int | None = None, **kwargs: Any) -> Any:
    """``json.loads`` that raises ``JsonTooDeep`` past the nesting limit and ``JsonHasNul``
    for a NUL in a string (both ValueErrors)."""
    limit = max_depth() if limit is None else limit
    try:
        value = json.loads(data, **kwargs)
    except RecursionError:
        raise JsonTooDeep(limit)
    return check(value, limit)


class SafeJSONDecoder(json.JSONDecoder):
    """For ``forms.JSONField(decoder=...)``: too deep or a NUL is an invalid-JSON form error."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return check(super().decode(s, *args, **kwargs))
        except RecursionError:
            raise json.JSONDecodeError("JSON nested too deeply", s, 0)
        except (JsonTooDeep, JsonHasNul) as exc:
            raise json.JSONDecodeError(str(exc), s, 0)

"""A pipelined message's values written into its text without psycopg's per-value adapters.

``core.pipeline`` sends a message's statements as text with their values quoted in, as
Django's cursors do (psycopg's client-side binding). psycopg finds an adapter for every
value and builds its literal in Python; for the hot statements (an intake batch's reads
and writes, a routing pass) that cost about 16% of a single-lead POST's CPU, most of it
in the arrays and timestamps (bench/README.md). ``statement_text`` writes the literals of
the few types those statements carry itself and gives anything else back to psycopg:

- ``None`` as ``NULL``; ``bool`` as ``true``/``false``; an ``int`` within bigint's range
  as its digits (a negative one after a space, as psycopg does: ``- -1`` is no comment);
- a ``str`` (or a subclass: a Django choice) as ``'...'`` with its single quotes doubled:
  with ``standard_conforming_strings`` on (PostgreSQL's default, checked on the connection
  every time) nothing else in such a literal is special. A string with a NUL, or that
  UTF-8 cannot encode, goes to psycopg, which refuses it as before;
- an aware ``datetime`` as ``'<ISO 8601>'::timestamptz``, as psycopg types it;
- a ``list`` as psycopg writes it, its ``None`` elements as ``NULL``: of ints as
  ``'{1,2}'::int2[]`` (``int4``, ``int8`` by its widest value), of aware datetimes as
  ``'{"<ISO 8601>"}'::timestamptz[]``, of strings as ``'{"a","b"}'`` (each element in
  double quotes, its ``"`` and ``\\`` escaped, then the whole literal quoted as a string;
  untyped, as an empty list's ``'{}'``, so the statement's context gives the type). A list
  of one other type, of mixed types or of ``None`` alone goes to psycopg.

Only statements whose placeholders are all ``%s`` (and ``%%`` for a percent sign) are
written here; anything else, and any value of another type, makes psycopg write the whole
statement.
"""

import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1


class Unsupported(Exception):
    """A value (or a statement) ``statement_text`` leaves to psycopg."""


def _str(value: str) -> str:
    if "\x00" in value:
        raise Unsupported
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise Unsupported from None
    return "'" + value.replace("'", "''") + "'"


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if not isinstance(value, str):
        raise Unsupported
    if "\x00" in value:
        raise Unsupported
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _int(value: int) -> str:
    if not INT8_MIN <= value <= INT8_MAX:
        raise Unsupported
    return f" {value}" if value < 0 else str(value)


def literal(value: Any) -> str:
    """``value`` as a SQL literal, or ``Unsupported``."""
    kind = type(value)
    if value is None:
        return "NULL"
    if issubclass(kind, str):  # a str, or a subclass (Django's choices): its characters
        return _str(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return _int(value)
    if kind is datetime:
        if value.tzinfo is None:
            raise Unsupported
        return f"'{value.isoformat()}'::timestamptz"
    if kind is list:
        return _list(value)
    raise Unsupported


def _list(value: list[Any]) -> str:
    if not value:
        return "'{}'"
    present = [v for v in value if v is not None]
    if not present:
        raise Unsupported  # all NULL: psycopg's choice of type
    kind = type(present[0])
    if any(type(v) is not kind for v in present):
        raise Unsupported
    if kind is int:
        low, high = min(present), max(present)
        widest = high if low >= 0 else max(high, -low - 1)  # psycopg's choice
        for name, bits in (("int2", 16), ("int4", 32), ("int8", 64)):
            if -(2 ** (bits - 1)) <= widest < 2 ** (bits - 1):
                items = ",".join("NULL" if v is None else str(v) for v in value)
                return "'{" + items + "}'::" + name + "[]"
        raise Unsupported
    if kind is datetime:
        if any(v.tzinfo is None for v in present):
            raise Unsupported
        items = ",".join("NULL" if v is None else f'"{v.isoformat()}"' for v in value)
        return "'{" + items + "}'::timestamptz[]"
    return _str("{" + ",".join(_element(v) for v in value) + "}")


@lru_cache(maxsize=512)
def _placeholders_only(sql: str) -> bool:
    """Whether every ``%`` of ``sql`` starts ``%s`` or ``%%``."""
    return re.search(r"%(?![s%])", sql.replace("%%", "")) is None


def statement_text(sql: str, params: Sequence[Any], standard_strings: bool) -> str:
    """``sql`` with ``params`` written in; ``Unsupported`` when psycopg must do it."""
    if not standard_strings or not isinstance(params, list | tuple):
        raise Unsupported
    if not _placeholders_only(sql):
        raise Unsupported
    if not params:
        if "%s" in sql.replace("%%", ""):
            raise Unsupported  # a placeholder without a value: psycopg's error
        return sql.replace("%%", "%")
    try:
        return sql % tuple(literal(value) for value in params)
    except TypeError:  # as many placeholders as values, or psycopg's error
        raise Unsupported from None

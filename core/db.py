"""Small database helpers shared by the apps' raw-SQL hot paths."""

import json
from collections.abc import Iterable, Sequence
from typing import Any


def json_value(value: Any) -> Any:
    """A jsonb column read by raw SQL: Django's psycopg setup hands it back as text."""
    return json.loads(value) if isinstance(value, str) else value


def unnest_columns(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Rows -> one list per column, the parameters of ``unnest(%s::type[], ...)``."""
    return [list(column) for column in zip(*rows, strict=True)]

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


def delete_unless_used(obj: Any, *, what: str) -> None:
    """Delete ``obj`` in its own transaction, or raise ``ConflictError`` (409, code
    ``in_use``) when protected rows still point at it (a server's lists, a list's outbox)."""
    from django.db import transaction
    from django.db.models.deletion import ProtectedError, RestrictedError

    from core.errors import IN_USE, ConflictError

    try:
        with transaction.atomic():
            obj.delete()
    except (ProtectedError, RestrictedError):
        raise ConflictError(
            f"This {what} is still in use (other records point at it): deactivate it instead.",
            code=IN_USE,
        ) from None

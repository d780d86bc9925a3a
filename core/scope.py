"""Which workspaces a person may see: one answer, asked by the admin, the desk and the
session API alike.

core imports no app, so the leads app (which owns workspaces and memberships) registers the
resolver in its ``AppConfig.ready``. The answer is a frozenset of workspace ids, or ``None``
for every workspace (superusers and people with the ``leads.all_workspaces`` permission, that
is the admin role). It is computed once per user object (so once per request).
"""

from collections.abc import Callable
from typing import Any

WorkspaceIds = frozenset[int] | None

_resolver: list[Callable[[Any], WorkspaceIds]] = []
_CACHE_ATTR = "_leadbrain_workspace_ids"


def register_workspace_resolver(resolver: Callable[[Any], WorkspaceIds]) -> None:
    _resolver[:] = [resolver]


def workspace_ids_for(user: Any) -> WorkspaceIds:
    """The workspaces ``user`` may see (``None``: all of them; empty: none)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    if getattr(user, "is_superuser", False):
        return None
    if hasattr(user, _CACHE_ATTR):
        return getattr(user, _CACHE_ATTR)  # type: ignore[no-any-return]
    if not _resolver:
        raise RuntimeError("No workspace resolver registered (is the leads app installed?)")
    ids = _resolver[0](user)
    setattr(user, _CACHE_ATTR, ids)
    return ids


def forget_workspace_ids(user: Any) -> None:
    """After a membership change, so the same user object is resolved again."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)

"""Per-workspace API limits for API-key requests: a rate per minute and requests in flight.

Each workspace's limits are fields on ``Workspace`` (editable in admin; empty takes the
``API_RATE_PER_MINUTE`` / ``API_MAX_CONCURRENT`` setting, 0 means no limit). A key's
workspace is re-read with the key (``KEY_CACHE_SECONDS``), so an admin change applies
within seconds. Over a limit the answer is a 429 with ``Retry-After`` in the API's error
shape; other workspaces are not slowed: a key refused for its rate is refused again for a
moment at the WSGI level (``leads.fastpath``), at the cost of a dictionary lookup, and its
connection is read again only after ``API_REFUSAL_PARK_SECONDS`` (``core.parking``). Session
(staff) users are not limited here.
"""

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from core.ratelimit import (
    CONCURRENCY,
    admit,
    hold_until_response,
    park_refused_connection,
    remember_refusal,
)
from leads.authentication import WorkspacePrincipal
from leads.models import Workspace


def workspace_limits(workspace: Workspace) -> tuple[int, int]:
    """(requests per minute, requests in flight) for ``workspace``; 0 means no limit."""
    rate = workspace.api_rate_per_minute
    concurrent = workspace.api_max_concurrent
    return (
        settings.API_RATE_PER_MINUTE if rate is None else rate,
        settings.API_MAX_CONCURRENT if concurrent is None else concurrent,
    )


def workspace_scope(workspace_id: int) -> str:
    return f"ws{workspace_id}"


class WorkspaceThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        user = request.user
        if not isinstance(user, WorkspacePrincipal):
            return True
        per_minute, max_concurrent = workspace_limits(user.workspace)
        scope = workspace_scope(user.workspace.pk)
        admission = admit(
            scope=scope,
            per_minute=per_minute,
            max_concurrent=max_concurrent,
            slot_seconds=settings.API_CONCURRENCY_SLOT_SECONDS,
        )
        if admission.token:
            hold_until_response(request._request, scope=scope, token=admission.token)
        if admission.allowed:
            return True
        if admission.reason == CONCURRENCY:
            detail = (
                f"This workspace already has {max_concurrent} API requests in flight "
                "(its concurrency limit)."
            )
        else:
            detail = f"This workspace is over its limit of {per_minute} API requests per minute."
            # This key's next requests are refused before Django for a moment (leads.fastpath).
            remember_refusal(
                user.api_key.hashed_key, retry_after=admission.retry_after, message=detail
            )
        # Either way the connection's next request is read after Retry-After at the latest.
        park_refused_connection(admission.retry_after)
        raise Throttled(wait=admission.retry_after, detail=detail)

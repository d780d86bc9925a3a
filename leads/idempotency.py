"""``Idempotency-Key``: the same key and body return the stored answer without a second
write; the same key with another body is a 409. Concurrent requests with one key
serialize on the unique index (the second INSERT waits for the first to commit)."""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.errors import ApplicationError, ConflictError
from leads.errors import IDEMPOTENCY_CONFLICT, INVALID
from leads.models import IdempotencyRecord, Workspace

MAX_KEY_LENGTH = 200


def request_fingerprint(method: str | None, path: str, data: Any) -> str:
    payload = json.dumps([method, path, data], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def idempotent_call(
    *,
    workspace: Workspace,
    key: str,
    fingerprint: str,
    compute: Callable[[], tuple[int, Any]],
) -> tuple[int, Any, bool]:
    """Run ``compute`` once per (workspace, key). Returns (status, body, replayed)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ApplicationError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.", code=INVALID
        )
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    with transaction.atomic():
        IdempotencyRecord.objects.filter(
            workspace=workspace, key=key, created_at__lt=cutoff
        ).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO leads_idempotencyrecord "
                "(workspace_id, key, request_hash, status_code, response, created_at) "
                "VALUES (%s, %s, %s, 0, 'null', now()) "
                "ON CONFLICT (workspace_id, key) DO NOTHING RETURNING id",
                [workspace.pk, key, fingerprint],
            )
            inserted = cursor.fetchone()
        if inserted is None:
            record = IdempotencyRecord.objects.get(workspace=workspace, key=key)
            if record.request_hash != fingerprint:
                raise ConflictError(
                    "This Idempotency-Key was already used with a different request.",
                    code=IDEMPOTENCY_CONFLICT,
                )
            return record.status_code, record.response, True
        status, body = compute()
        IdempotencyRecord.objects.filter(pk=inserted[0]).update(status_code=status, response=body)
        return status, body, False

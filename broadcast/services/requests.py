"""Pending enrollment requests: enrollment work kept in a table until it can happen.

Two kinds wait here: leads enrolled while no device of the sequence was active
(``no_device``: carried out when a device of the sequence's workspace becomes active), and
large admin selections (``queued``: carried out by a worker at once). Redis only wakes the
worker (``enrollment_requests_waiting`` on commit); beat's sweeper carries out whatever a
lost wake missed, so losing Redis loses nothing. ``requests_run`` carries them out.
"""

import itertools
from collections.abc import Iterable

from django.db import transaction

from broadcast.models import EnrollmentRequest
from broadcast.signals import enrollment_requests_waiting
from leads.signals import send_on_commit

REQUEST_CHUNK = 10_000  # lead ids per request row (one transaction when carried out)


def enrollment_requests_queue(
    *,
    sequence_id: int,
    workspace_id: int,
    lead_ids: Iterable[int],
    reason: str,
    actor: str = "",
    wake: bool = True,
    chunk: int | None = None,
) -> tuple[int, int]:
    """Keep enrollment work in the table, ``chunk`` lead ids per row (``lead_ids`` may be an
    iterator over millions: it is consumed chunk by chunk). ``wake``: ask a worker to carry
    it out after the commit (not worth it while no device is active). Returns (rows, leads)."""
    chunk = chunk or REQUEST_CHUNK
    rows = leads = 0
    iterator = iter(lead_ids)
    with transaction.atomic():
        while batch := list(itertools.islice(iterator, chunk * 10)):
            created = EnrollmentRequest.objects.bulk_create(
                EnrollmentRequest(
                    sequence_id=sequence_id,
                    lead_ids=part,
                    lead_count=len(part),
                    actor=actor[:100],
                    reason=reason,
                )
                for part in (batch[i : i + chunk] for i in range(0, len(batch), chunk))
            )
            rows += len(created)
            leads += len(batch)
        if rows and wake:
            send_on_commit(enrollment_requests_waiting, workspace_ids=[workspace_id])
    return rows, leads


def enrollment_requests_wake_for(*, workspace_ids: Iterable[int]) -> bool:
    """Devices of these workspaces became active: if requests of theirs wait, wake a worker
    after the commit. True if a wake was asked for."""
    ids = sorted(set(workspace_ids))
    waiting = (
        ids
        and EnrollmentRequest.objects.filter(
            status=EnrollmentRequest.Status.PENDING, sequence__workspace_id__in=ids
        ).exists()
    )
    if waiting:
        send_on_commit(enrollment_requests_waiting, workspace_ids=ids)
    return bool(waiting)


def enrollment_requests_retry(*, request_ids: Iterable[int]) -> int:
    """Failed requests wait again (a sequence was reactivated or given steps); returns how
    many. A worker is woken after the commit."""
    updated = EnrollmentRequest.objects.filter(
        pk__in=list(request_ids), status=EnrollmentRequest.Status.FAILED
    ).update(status=EnrollmentRequest.Status.PENDING)
    if updated:
        send_on_commit(enrollment_requests_waiting, workspace_ids=None)
    return updated

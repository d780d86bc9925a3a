"""Carrying out pending enrollment requests (``requests.py`` writes them): one request per
transaction, claimed with ``FOR UPDATE SKIP LOCKED`` so workers share the table, its
enrollments and its ``done`` mark committed together. Consent is checked now, by
``enrollment_create_many``: a lead that became DNC or suppressed while it waited is skipped."""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from broadcast.models import EnrollmentRequest
from broadcast.services.enrollment import enrollment_create_many
from core.errors import ApplicationError

logger = logging.getLogger(__name__)


@dataclass
class RequestsRun:
    done: int = 0  # requests carried out
    waiting: int = 0  # still no active device: they keep waiting
    failed: int = 0  # the sequence cannot take them (inactive, no steps, deleted)
    created: int = 0  # enrollments made

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def enrollment_requests_process(
    *,
    workspace_ids: Iterable[int] | None = None,
    request_ids: Iterable[int] | None = None,
    seconds: float = 50.0,
) -> RequestsRun:
    """Carry out pending requests, oldest first, for about ``seconds`` (of these workspaces'
    sequences, or these requests, if given). A sequence found without an active device is
    tried once per run; its requests keep waiting."""
    run = RequestsRun()
    workspaces = None if workspace_ids is None else list(workspace_ids)
    only = None if request_ids is None else list(request_ids)
    blocked: set[int] = set()  # sequences without an active device in this run
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with transaction.atomic():
            request = _claim(workspaces, only, blocked)
            if request is None:
                break
            _carry_out(request, run, blocked)
    if run.done or run.failed:
        logger.info("enrollment requests: %s", run.as_dict())
    return run


def _claim(
    workspace_ids: list[int] | None, request_ids: list[int] | None, blocked: set[int]
) -> EnrollmentRequest | None:
    queryset = (
        EnrollmentRequest.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=EnrollmentRequest.Status.PENDING)
        .exclude(sequence_id__in=blocked)
        .order_by("id")
    )
    if workspace_ids is not None:
        queryset = queryset.filter(sequence__workspace_id__in=workspace_ids)
    if request_ids is not None:
        queryset = queryset.filter(pk__in=request_ids)
    return queryset.first()


def _carry_out(request: EnrollmentRequest, run: RequestsRun, blocked: set[int]) -> None:
    request.attempts += 1
    request.attempted_at = timezone.now()
    try:
        with transaction.atomic():
            result = enrollment_create_many(
                lead_ids=request.lead_ids, sequence_id=request.sequence_id, actor=request.actor
            )
    except ApplicationError as exc:
        request.last_error = exc.message[:500]
        if exc.code == "no_device":
            blocked.add(request.sequence_id)
            request.reason = EnrollmentRequest.Reason.NO_DEVICE
            run.waiting += 1
        else:
            request.status = EnrollmentRequest.Status.FAILED
            run.failed += 1
    else:
        request.status = EnrollmentRequest.Status.DONE
        request.result = result.as_dict()
        request.done_at = request.attempted_at
        request.last_error = ""
        run.done += 1
        run.created += result.created
    request.save(
        update_fields=[
            "attempts",
            "attempted_at",
            "last_error",
            "reason",
            "status",
            "result",
            "done_at",
        ]
    )

"""Heartbeats of periodic jobs: ``with job_run("core.partitions"):`` records when the job
started, succeeded or failed, and ``register_job`` says how often it must succeed."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.utils import timezone

from core.alerts.models import JobRun
from core.secrets import scrub

# name -> (the longest time between two successes, a label for the message)
EXPECTED_JOBS: dict[str, tuple[timedelta, str]] = {}


def register_job(name: str, *, every: timedelta, label: str) -> None:
    EXPECTED_JOBS[name] = (every, label)


@contextmanager
def job_run(name: str) -> Iterator[None]:
    """Record the job's start, then its success or its failure (type and scrubbed text)."""
    JobRun.objects.update_or_create(name=name, defaults={"last_started_at": timezone.now()})
    try:
        yield
    except BaseException as exc:
        text = scrub(f"{type(exc).__name__}: {exc}")[:2000]
        JobRun.objects.filter(name=name).update(last_failure_at=timezone.now(), last_error=text)
        raise
    JobRun.objects.filter(name=name).update(last_success_at=timezone.now(), last_error="")

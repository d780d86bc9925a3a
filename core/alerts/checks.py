"""Core's own alert rules: ``/health`` turning yellow or red (per metric, naming it), a
dependency down, and periodic jobs that did not run or failed."""

from collections.abc import Iterator

from django.utils import timezone

from core.alerts.jobs import EXPECTED_JOBS
from core.alerts.models import JobRun, Severity
from core.alerts.registry import Finding

SEVERITY = {"yellow": Severity.WARNING, "red": Severity.CRITICAL}


def health_findings() -> Iterator[Finding]:
    """One finding per graded metric that is yellow or red (its colour is in the subject:
    yellow turning red resolves the one and fires the other)."""
    from core.selectors import health_report

    report = health_report()
    for name in report["dependencies_down"]:
        yield Finding(f"dependency:{name}", f"/health red: {name} is down", Severity.CRITICAL)
    for name, metric in sorted(report["metrics"].items()):
        colour = metric["status"]
        if colour not in SEVERITY:
            continue
        yellow, red = metric["thresholds"]
        if metric.get("lower_is_worse"):
            bands = f"yellow below {yellow:g}, red below {red:g}"
        elif red < yellow:  # any is red (pacing violations)
            bands = f"red above {red:g}"
        else:
            bands = f"yellow at {yellow:g}, red above {red:g}"
        yield Finding(
            f"{name}:{colour}",
            f"/health {colour}: {name} = {metric['value']:g} ({bands})",
            SEVERITY[colour],
            detail=f"/health is {report['status']}; the metric that did it: {name}.",
        )


def job_findings() -> Iterator[Finding]:
    """A registered job that failed last time, or has not succeeded for too long."""
    now = timezone.now()
    for name, (every, label) in sorted(EXPECTED_JOBS.items()):
        run, _ = JobRun.objects.get_or_create(name=name)
        failed = run.last_failure_at and (
            not run.last_success_at or run.last_failure_at > run.last_success_at
        )
        if failed:
            yield Finding(
                f"{name}:failed",
                f"{label} failed: {run.last_error[:200]}",
                Severity.CRITICAL,
                detail=f"Last failure {run.last_failure_at:%Y-%m-%d %H:%M} UTC.",
            )
            continue
        since = run.last_success_at or run.first_seen_at
        if now - since > every:
            what = "has not run" if not run.last_success_at else "has not succeeded"
            yield Finding(
                f"{name}:stale",
                f"{label} {what} since {since:%Y-%m-%d %H:%M} UTC (expected every {every})",
                Severity.WARNING,
            )

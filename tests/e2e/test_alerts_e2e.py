"""Beat and a real worker: a paused VICIdial server reaches the SMTP server and the webhook
receiver once, resolves once when resumed, and sends nothing while it holds."""

import os
import subprocess
import sys
import tempfile
import time

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.alerts.channels import channel_set_webhook_url
from core.alerts.models import AlertChannel, JobRun
from dialer import services as dialer_services
from tests.alert_doubles import SmtpDouble, WebhookDouble
from tests.e2e.conftest import ROOT, database_url, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EVERY = 3  # seconds between evaluations here (60 in production)
ALERT_TASK = "core.tasks.alerts_evaluate_task"


@pytest.fixture
def beat(transactional_db, settings):
    """Celery beat from the database schedules: only the alert rules, every EVERY seconds."""
    call_command("setup_schedules")
    PeriodicTask.objects.exclude(task=ALERT_TASK).update(enabled=False)
    fast, _ = IntervalSchedule.objects.get_or_create(every=EVERY, period="seconds")
    PeriodicTask.objects.filter(task=ALERT_TASK).update(interval=fast)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            [
                os.path.join(os.path.dirname(sys.executable), "celery"),
                "-A",
                "config",
                "beat",
                "-l",
                "warning",
                "-s",
                os.path.join(folder, "schedule"),
                "--max-interval",
                "1",
            ],
            cwd=ROOT,
            env=env,
        )
        yield proc
        proc.terminate()
        proc.wait(timeout=20)


def evaluated_at():
    run = JobRun.objects.filter(name="core.alerts").first()
    return run.last_success_at if run else None


def wait_for_evaluations(n: int) -> None:
    """Until the worker has finished ``n`` more evaluations (a bounded wait)."""
    seen = {evaluated_at()}

    def more() -> bool:
        seen.add(evaluated_at())
        return len(seen) > n

    wait_until(more, seconds=60, what=f"{n} more evaluations")


def test_a_paused_server_alerts_through_beat_once_and_resolves_once(
    server, vici, celery_worker, beat
):
    smtp, hook = SmtpDouble().start(), WebhookDouble()
    os.environ.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp.port))  # the worker's
    try:
        AlertChannel.objects.create(name="mail", kind="email", email_to="ops@example.com")
        slack = AlertChannel.objects.create(name="slack", kind="webhook")
        channel_set_webhook_url(channel=slack, url=hook.url())
        dialer_services.server_pause(server_id=server.pk, reason="Login incorrect")
        started = time.monotonic()
        celery_worker("default")
        [(_, subject, _)] = smtp.wait_for(1, seconds=120)
        hook.wait_for(1, seconds=30)
        assert time.monotonic() - started < 120
        assert "VICIdial server vici1 is paused" in subject
        wait_for_evaluations(3)
        assert len(smtp.items) == len(hook.items) == 1  # no flood while it holds

        server.refresh_from_db()
        dialer_services.server_resume(server=server)
        smtp.wait_for(2, seconds=60)
        hook.wait_for(2, seconds=30)
        assert smtp.items[1][1].startswith("[Leadbrain RESOLVED] VICIdial server vici1")
        wait_for_evaluations(3)
        assert len(smtp.items) == len(hook.items) == 2
    finally:
        for name in ("EMAIL_HOST", "EMAIL_PORT"):
            os.environ.pop(name, None)
        smtp.stop()
        hook.stop()

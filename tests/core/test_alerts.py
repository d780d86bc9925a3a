"""Alerts reach a person: a fault injected (a paused server, a failing sync, a red /health
threshold) sends one message to a real SMTP server and one to a webhook receiver, nothing
more while it holds, and one more of each when it resolves."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calllogs import services as calllogs_services
from calllogs.models import ServerHook
from core.alerts import registry
from core.alerts.channels import channel_set_webhook_url
from core.alerts.engine import alerts_evaluate
from core.alerts.models import Alert, AlertChannel, AlertDelivery
from core.errors import ClientError
from core.schedules import SCHEDULES
from core.tasks import alerts_evaluate_task
from dialer import services as dialer_services
from dialer.models import ViciList
from tests.alert_doubles import SmtpDouble, WebhookDouble
from tests.leads.factories import LeadFactory
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(settings):
    double = SmtpDouble().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", double.port
    yield double
    double.stop()


@pytest.fixture
def hook():
    double = WebhookDouble()
    yield double
    double.stop()


@pytest.fixture
def channels(smtp, hook):
    mail = AlertChannel.objects.create(
        name="on-call mail", kind="email", email_to="ops@example.com"
    )
    slack = AlertChannel.objects.create(name="on-call slack", kind="webhook")
    channel_set_webhook_url(channel=slack, url=hook.url())
    return mail, slack


def keys(inbox) -> list[str]:
    return [item[1] if isinstance(item[1], str) else item[1]["text"] for item in inbox.items]


def evaluate_quietly(times: int = 3) -> None:
    """Evaluations while nothing changes send nothing."""
    for _ in range(times):
        assert alerts_evaluate().sent == 0


def test_beat_evaluates_the_rules_every_minute():
    [entry] = [s for s in SCHEDULES if s["task"] == "core.tasks.alerts_evaluate_task"]
    assert entry["interval_seconds"] == 60


def test_a_paused_server_alerts_once_and_resolves_once(channels, smtp, hook, server, vici):
    dialer_services.server_pause(server_id=server.pk, reason="Login incorrect (bad password)")
    assert alerts_evaluate_task() == 2
    [(to, subject, body)] = smtp.wait_for(1)
    assert to == ["ops@example.com"]
    assert subject.startswith("[Leadbrain CRITICAL] VICIdial server vici1 is paused")
    [(path, payload)] = hook.wait_for(1)
    assert path == "/services/T000/B000/s3cr3t-hook-token"
    assert "VICIdial server vici1 is paused" in payload["text"]
    evaluate_quietly()  # no flood while it holds
    assert len(smtp.items) == len(hook.items) == 1

    server.refresh_from_db()
    dialer_services.server_resume(server=server)  # one good login against the double
    assert alerts_evaluate().resolved == [f"dialer.server_paused:{server.pk}"]
    smtp.wait_for(2)
    hook.wait_for(2)
    assert smtp.items[1][1].startswith("[Leadbrain RESOLVED] VICIdial server vici1 is paused")
    assert hook.items[1][1]["text"].startswith("[Leadbrain RESOLVED]")
    evaluate_quietly()
    assert len(smtp.items) == len(hook.items) == 2
    alert = Alert.objects.get(key=f"dialer.server_paused:{server.pk}")
    assert alert.state == "resolved" and alert.deliveries.filter(status="sent").count() == 4


@pytest.fixture
def pushed(workspace, server, vici, dispositions):
    vici_list = ViciList.objects.create(server=server, list_id=1001, campaign_id="C", name="L")
    [lead_id] = make_leads(workspace, 1)
    dialer_services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    assert dialer_services.outbox_drain(server_id=server.pk).sent == 1
    return lead_id


def test_a_failing_sync_alerts_and_resolves_when_a_sync_succeeds(
    channels, smtp, hook, server, vici, pushed
):
    vici.down()
    with pytest.raises(ClientError):
        calllogs_services.calllogs_sync(server_id=server.pk)
    assert ServerHook.objects.get(server=server).last_error
    result = alerts_evaluate()
    assert result.fired == [f"calllogs.sync_failing:{server.pk}"]
    [(_, subject, body)] = smtp.wait_for(1)
    assert subject.startswith("[Leadbrain CRITICAL] Call-log sync of vici1 failing")
    assert "Secret123" not in body  # the server's password never travels
    evaluate_quietly()
    vici.up()
    calllogs_services.calllogs_sync(server_id=server.pk)
    assert alerts_evaluate().resolved == [f"calllogs.sync_failing:{server.pk}"]
    assert len(smtp.wait_for(2)) == len(hook.wait_for(2)) == 2


def test_a_red_health_threshold_names_the_metric_and_resolves(channels, smtp, hook, settings):
    LeadFactory.create_batch(3)
    settings.HEALTH_THRESHOLDS = {**settings.HEALTH_THRESHOLDS, "leads_per_day": (1, 2)}
    result = alerts_evaluate()
    assert result.fired == ["core.health:leads_per_day:red"]
    [(_, subject, _)] = smtp.wait_for(1)
    assert (
        subject == "[Leadbrain CRITICAL] /health red: leads_per_day = 3 (yellow at 1, red above 2)"
    )
    evaluate_quietly()
    settings.HEALTH_THRESHOLDS = {**settings.HEALTH_THRESHOLDS, "leads_per_day": (10, 20)}
    assert alerts_evaluate().resolved == ["core.health:leads_per_day:red"]
    assert len(smtp.wait_for(2)) == len(hook.wait_for(2)) == 2


def _fault(name: str):
    """A finding of a fake rule, switched on and off by the test."""
    state = {"on": True, "n": 3}

    def check():
        if not state["on"]:
            return []
        return [registry.Finding(str(i), f"{name} {i} is down") for i in range(state["n"])]

    return state, check


def test_a_channel_sends_at_most_its_hourly_limit(channels, smtp, hook, monkeypatch):
    mail, slack = channels
    AlertChannel.objects.filter(pk=mail.pk).update(max_per_hour=2)
    state, check = _fault("thing")
    monkeypatch.setitem(registry.CHECKS, "test.flapping", check)
    alerts_evaluate()
    for _ in range(3):  # flapping: resolves and fires again
        state["on"] = not state["on"]
        alerts_evaluate()
    assert len(smtp.wait_for(2)) == 2
    assert AlertDelivery.objects.filter(channel=mail, status="sent").count() == 2
    suppressed = AlertDelivery.objects.filter(channel=mail, status="suppressed")
    assert suppressed.count() == 10 and "rate limit" in suppressed.first().error
    assert len(hook.wait_for(12)) == 12  # the webhook channel's limit (30) was not reached
    assert len(smtp.items) == 2


def test_a_failing_webhook_is_retried_then_given_up_without_its_url(channels, hook, monkeypatch):
    _, slack = channels
    hook.status = 500
    state, check = _fault("thing")
    state["n"] = 1
    monkeypatch.setitem(registry.CHECKS, "test.one", check)
    for _ in range(3):
        alerts_evaluate()
    delivery = AlertDelivery.objects.get(channel=slack)
    assert delivery.status == "failed" and delivery.attempts == 3
    assert delivery.error == "HTTP 500 from 127.0.0.1"
    assert "s3cr3t" not in delivery.error
    # Every try is its own row, shown on the delivery's admin page.
    tries = list(delivery.tries.values_list("ok", "error"))
    assert tries == [(False, "HTTP 500 from 127.0.0.1")] * 3


def test_a_webhook_that_cannot_be_reached_keeps_no_url_in_the_error(db, monkeypatch):
    from simulators.http import closed_port

    channel = AlertChannel.objects.create(name="dead", kind="webhook")
    channel_set_webhook_url(
        channel=channel, url=f"http://127.0.0.1:{closed_port()}/hook/s3cr3t-token"
    )
    state, check = _fault("thing")
    state["n"] = 1
    monkeypatch.setitem(registry.CHECKS, "test.one", check)
    alerts_evaluate()
    delivery = AlertDelivery.objects.get(channel=channel)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.error == "ConnectionError talking to 127.0.0.1"
    assert "s3cr3t" not in channel.webhook_url_encrypted


def test_a_broken_check_resolves_nothing_and_says_so(channels, smtp, monkeypatch):
    state, check = _fault("thing")
    state["n"] = 1
    monkeypatch.setitem(registry.CHECKS, "test.breaks", check)
    alerts_evaluate()

    def broken():
        raise RuntimeError("probe exploded")

    monkeypatch.setitem(registry.CHECKS, "test.breaks", broken)
    result = alerts_evaluate()
    assert result.resolved == [] and result.fired == ["core.check_failed:test.breaks"]
    assert Alert.objects.get(key="test.breaks:0").state == "firing"


def test_only_channels_at_or_below_the_alert_severity_get_it(channels, smtp, hook, monkeypatch):
    mail, _ = channels
    AlertChannel.objects.filter(pk=mail.pk).update(min_severity="critical")
    state, check = _fault("thing")
    state["n"] = 1
    monkeypatch.setitem(registry.CHECKS, "test.warning", check)  # warnings only
    alerts_evaluate()
    hook.wait_for(1)
    assert smtp.items == [] and not AlertDelivery.objects.filter(channel=mail).exists()


def test_a_second_evaluation_at_the_same_time_returns_at_once(db):
    from core.locks import lock_key, try_session_lock

    with try_session_lock(lock_key("core.alerts.evaluate")) as taken:
        assert taken
        # The lock is per session: another connection is needed to see it held.
        import threading

        answers = []

        def other():
            from django.db import connection

            answers.append(alerts_evaluate().ran)
            connection.close()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(30)
    assert answers == [False]


def test_a_job_that_did_not_run_alerts(channels, smtp):
    from core.alerts.models import JobRun
    from core.tasks import partitions_maintain_task

    JobRun.objects.create(name="core.partitions")
    JobRun.objects.filter(name="core.partitions").update(
        first_seen_at=timezone.now() - timedelta(days=2)
    )
    assert "core.jobs:core.partitions:stale" in alerts_evaluate().fired
    partitions_maintain_task()
    assert "core.jobs:core.partitions:stale" in alerts_evaluate().resolved

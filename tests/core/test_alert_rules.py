"""Each alert rule fires on its fault and resolves when the fault is gone (read through the
owning app's selectors), and the alert pages in admin are read-only and admins' only."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from broadcast import services as broadcast_services
from calllogs.models import ReconciliationRun, WebhookDeadLetter
from core import slo
from core.alerts.engine import alerts_evaluate
from core.alerts.models import Alert, AlertChannel
from dialer.models import OutboxItem, ViciList
from tests.broadcast.fixtures import make_device
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


def firing() -> set[str]:
    return set(Alert.objects.filter(state="firing").values_list("key", flat=True))


@pytest.fixture
def outbox_item(server, workspace):
    vici_list = ViciList.objects.create(server=server, list_id=1001, name="L")
    return OutboxItem.objects.create(
        lead_id=1,
        server=server,
        vici_list=vici_list,
        operation="add",
        next_attempt_at=timezone.now(),
    )


def test_dead_and_long_failing_outbox_items(outbox_item, server, settings):
    settings.ALERT_OUTBOX_FAILING_ATTEMPTS = 3
    OutboxItem.objects.filter(pk=outbox_item.pk).update(attempts=2, last_error="timeout")
    alerts_evaluate()
    assert f"dialer.outbox_failing:{server.pk}" not in firing()
    OutboxItem.objects.filter(pk=outbox_item.pk).update(attempts=3)
    alerts_evaluate()
    alert = Alert.objects.get(key=f"dialer.outbox_failing:{server.pk}", state="firing")
    assert "0 dead, 1 failing" in alert.summary and alert.severity == "warning"
    OutboxItem.objects.filter(pk=outbox_item.pk).update(state="dead")
    alerts_evaluate()
    assert "1 dead, 0 failing" in Alert.objects.get(pk=alert.pk).summary
    OutboxItem.objects.filter(pk=outbox_item.pk).update(state="sent")
    assert alerts_evaluate().resolved == [alert.key]


@pytest.mark.parametrize("status", ["banned", "disconnected"])
def test_a_banned_or_logged_out_device(workspace, gateway, status):
    device = make_device(workspace, gateway)
    broadcast_services.devices_set_status(device_ids=[device.pk], status=status, reason="gone")
    alerts_evaluate()
    alert = Alert.objects.get(key=f"broadcast.device_down:{device.pk}")
    assert alert.severity == ("critical" if status == "banned" else "warning")
    broadcast_services.devices_set_status(device_ids=[device.pk], status="active")
    assert alerts_evaluate().resolved == [alert.key]


def test_an_auto_paused_device_alerts_but_a_person_s_pause_does_not(workspace, gateway):
    mine = make_device(workspace, gateway, 1)
    auto = make_device(workspace, gateway, 2)
    broadcast_services.devices_set_status(device_ids=[mine.pk], status="paused", reason="me")
    type(auto).objects.filter(pk=auto.pk).update(
        status="paused", status_reason="paused after 5 failed sends", probe_at=timezone.now()
    )
    alerts_evaluate()
    assert firing() >= {f"broadcast.device_down:{auto.pk}"}
    assert f"broadcast.device_down:{mine.pk}" not in firing()


def test_the_dead_letter_list_growing(server):
    now = timezone.now()
    letter = WebhookDeadLetter.objects.create(
        server=server, received_at=now, failed_at=now, params={}, error="bad"
    )
    alerts_evaluate()
    assert "calllogs.dead_letters:" in firing()
    assert "1 in the last hour" in Alert.objects.get(key="calllogs.dead_letters:").summary
    WebhookDeadLetter.objects.filter(pk=letter.pk).update(failed_at=now - timedelta(hours=2))
    assert alerts_evaluate().resolved == ["calllogs.dead_letters:"]


def test_reconciliation_drift(server):
    ReconciliationRun.objects.create(server=server, day=date(2026, 12, 1), missing=3)
    alerts_evaluate()
    alert = Alert.objects.get(key=f"calllogs.reconcile_drift:{server.pk}")
    assert "3 missing" in alert.summary and alert.severity == "warning"
    ReconciliationRun.objects.create(server=server, day=date(2026, 12, 2))
    assert alerts_evaluate().resolved == [alert.key]


def test_routing_failures_above_the_rate(db, settings):
    settings.ALERT_ROUTING_FAILURE_RATIO, settings.ALERT_ROUTING_MIN_LEADS = 0.05, 10
    slo.count("routing_claimed_total", 100)
    slo.count("routing_failed_total", 5)
    alerts_evaluate()
    assert "routing.failures:" not in firing()  # 5% is the limit, not above it
    slo.count("routing_claimed_total", 10)
    slo.count("routing_failed_total", 10)
    alerts_evaluate()
    assert "15 of 110 leads" in Alert.objects.get(key="routing.failures:").summary


# --- admin ----------------------------------------------------------------------------------


def test_the_webhook_url_is_write_only(admin_client):
    url = "https://hooks.example.com/services/T0/B0/s3cr3t-token"
    response = admin_client.post(
        reverse("admin:core_alertchannel_add"),
        {
            "name": "slack",
            "kind": "webhook",
            "webhook_url": url,
            "min_severity": "warning",
            "max_per_hour": 30,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    channel = AlertChannel.objects.get(name="slack")
    assert channel.webhook_url_encrypted and "s3cr3t" not in channel.webhook_url_encrypted
    page = admin_client.get(reverse("admin:core_alertchannel_change", args=[channel.pk]))
    assert page.status_code == 200 and b"s3cr3t" not in page.content
    assert b"A webhook URL is set" in page.content


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"kind": "webhook", "webhook_url": "javascript:alert(1)"}, "http:// or https://"),
        ({"kind": "webhook"}, "needs its URL"),
        ({"kind": "email", "email_to": "ops@example.com, nope"}, "Not an e-mail address"),
        ({"kind": "email"}, "at least one address"),
    ],
)
def test_bad_channels_are_form_errors(admin_client, fields, error):
    data = {"name": "c", "min_severity": "warning", "max_per_hour": 30, **fields}
    response = admin_client.post(reverse("admin:core_alertchannel_add"), data)
    assert response.status_code == 200 and error in response.content.decode()
    assert "alert(1)" not in response.content.decode()


def test_alerts_are_read_only_and_for_admins_only(admin_client, client, worlds):
    alert = Alert.objects.create(
        key="x:1",
        rule="x",
        severity="warning",
        summary="s",
        fired_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    page = admin_client.get(reverse("admin:core_alert_change", args=[alert.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client.get(reverse("admin:core_alert_add")).status_code == 403
    client.force_login(make_member("mia", worlds[0].workspace, "manager"))
    for name in ("core_alert", "core_alertdelivery", "core_alertchannel", "core_jobrun"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 403


def test_send_a_test_message_from_the_admin(admin_client, settings):
    from tests.alert_doubles import WebhookDouble

    hook = WebhookDouble()
    try:
        channel = AlertChannel.objects.create(name="slack", kind="webhook")
        from core.alerts.channels import channel_set_webhook_url

        channel_set_webhook_url(channel=channel, url=hook.url())
        changelist = reverse("admin:core_alertchannel_changelist")
        data = {"action": "send_test", "_selected_action": [channel.pk]}
        page = admin_client.post(changelist, data, follow=True)
        assert "test message sent" in page.content.decode()
        [(_, body)] = hook.wait_for(1)
        assert body["text"].startswith("[Leadbrain TEST]")
        hook.status = 404
        page = admin_client.post(changelist, data, follow=True)
        assert "HTTP 404 from 127.0.0.1" in page.content.decode()
        assert "s3cr3t" not in page.content.decode()
    finally:
        hook.stop()

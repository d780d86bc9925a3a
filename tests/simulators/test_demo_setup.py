"""The demo configuration: created once, found again (manager edits kept), and linked to
running simulators the way an operator links a real VICIdial and WAHA."""

import pytest
from django.contrib.auth import get_user_model
from django_celery_beat.models import PeriodicTask

from broadcast.models import Device, Sequence
from calllogs.models import ServerHook
from dialer.models import ViciList, ViciServer
from dialer.services import server_password
from leads.models import ApiKey, Membership
from routing.models import RoutingRule, RuleCondition, RuleDestination
from simulators.demo.connect import demo_connect, demo_key
from simulators.demo.setup import demo_setup
from simulators.gateway import GatewaySimulator
from simulators.vicidial import ViciSimulator

pytestmark = pytest.mark.django_db


def setup(port: int = 8101, **kwargs):
    return demo_setup(
        vici_url=f"http://127.0.0.1:{port}/vicidial/non_agent_api.php",
        vici_password="DemoVici2026",
        gateway_url=f"http://127.0.0.1:{port + 1}",
        password="pw",
        **kwargs,
    )


def counts() -> dict[str, int]:
    models = [RoutingRule, RuleCondition, RuleDestination, ViciServer, ViciList, ServerHook]
    models += [Device, Sequence, Membership, get_user_model()]
    return {m.__name__: m.objects.count() for m in models}


def test_it_creates_the_demo_and_a_second_run_changes_nothing():
    from core.management.commands.setup_schedules import schedules_upsert

    schedules_upsert()
    demo = setup()
    first = counts()
    assert first["RoutingRule"] == 4 and first["ViciList"] == 3 and first["Device"] == 6
    assert first["RuleDestination"] >= 6
    assert RuleDestination.objects.exclude(cap_per_hour=None, cap_per_day=None).count() >= 4
    assert RuleCondition.objects.filter(group=1).exists()  # an OR group
    assert server_password(demo.server) == "DemoVici2026"
    assert ServerHook.objects.filter(server=demo.server).exists()
    assert all(d.status == Device.Status.ACTIVE for d in demo.devices)
    assert demo.sequence.devices.count() == 6
    roles = {(m.user.username, m.role) for m in Membership.objects.select_related("user")}
    assert {("manager", "manager"), ("agent", "agent"), ("integrator", "integrator")} <= roles
    assert get_user_model().objects.get(username="admin").is_superuser
    drain = PeriodicTask.objects.get(name="dialer: drain the VICIdial outbox")
    assert drain.interval.every == 10
    RoutingRule.objects.filter(name="Everything else").update(priority=5)  # a manager's edit
    setup()
    assert counts() == first
    assert RoutingRule.objects.get(name="Everything else").priority == 5


def test_the_simulators_addresses_follow_the_ports_of_the_run():
    setup(8101)
    setup(9101)
    assert ViciServer.objects.get().api_url == "http://127.0.0.1:9101/vicidial/non_agent_api.php"
    assert set(Device.objects.values_list("gateway_url", flat=True)) == {"http://127.0.0.1:9102"}


def test_connecting_gives_the_campaigns_their_call_urls_and_the_sessions_their_webhooks():
    vici = ViciSimulator(user="leadbrain", password="DemoVici2026").start()
    gateway = GatewaySimulator(token="demo-gateway-token").start()
    try:
        demo = demo_setup(
            vici_url=vici.url,
            vici_password="DemoVici2026",
            gateway_url=gateway.url,
            password="pw",
        )
        linked = demo_connect(
            vici_control_url=f"http://127.0.0.1:{vici.port}/simulator/campaign",
            gateway_url=gateway.url,
            web_url="http://web.test",
        )
        assert linked.campaigns == {"DEMOSOL": [1001, 1002], "DEMOPTN": [2001]}
        token = ServerHook.objects.get(server=demo.server).token
        dispo = vici.state.campaigns["DEMOSOL"].dispo_call_url
        assert dispo.startswith("VARhttp://web.test/webhooks/vici/call/?")
        assert f"server={demo.server.pk}&token={token}&kind=dispo" in dispo
        assert "kind=noagent" in vici.state.campaigns["DEMOPTN"].na_call_url
        assert vici.state.lists == {1001: "DEMOSOL", 1002: "DEMOSOL", 2001: "DEMOPTN"}
        device = demo.devices[0]
        [hook] = gateway.sessions[device.gateway_session]["webhooks"]
        assert hook["url"] == f"http://web.test/webhooks/gateway/{device.pk}/"
        assert hook["hmac"]["key"] == device.webhook_secret
    finally:
        vici.stop()
        gateway.stop()


def test_a_demo_key_replaces_the_previous_one_of_its_name():
    demo = setup()
    acme = demo.workspaces["acme-sales"]
    first = demo_key(workspace=acme, name="demo-traffic")
    second = demo_key(workspace=acme, name="demo-traffic")
    assert first != second
    live = ApiKey.objects.filter(workspace=acme, name="demo-traffic", revoked_at__isnull=True)
    assert live.count() == 1 and live.get().hashed_key == ApiKey.hash(second)

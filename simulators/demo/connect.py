"""Link the running simulators to the demo configuration, as an operator would link a real
VICIdial and WAHA: each campaign gets Leadbrain's Start, Dispo and No-Agent call URLs (with
the server hook's token) and its lists; each device's session gets its webhook (signed
with the device's webhook secret). Also hands out the demo's API keys (shown once)."""

from dataclasses import dataclass

import requests

from broadcast.models import Device
from calllogs.models import ServerHook
from calllogs.services import webhook_url
from dialer.models import ViciList, ViciServer
from leads.models import ApiKey, Workspace
from leads.services import api_key_create, api_key_revoke
from simulators.demo import GATEWAY_TOKEN
from simulators.demo.setup import SERVER_NAME

URL_FIELDS = {"start": "start_call_url", "dispo": "dispo_call_url", "noagent": "na_call_url"}
SESSION_EVENTS = ["message", "message.ack", "session.status"]


@dataclass
class Linked:
    campaigns: dict[str, list[int]]
    sessions: list[str]


def campaign_settings(server: ViciServer, web_url: str) -> dict[str, dict]:
    """Per campaign of the server's lists: its lists and call URLs (what VICIdial's admin
    would be given)."""
    hook, _ = ServerHook.objects.get_or_create(server=server)
    urls = {
        field: webhook_url(hook=hook, base_url=web_url, kind=kind)
        for kind, field in URL_FIELDS.items()
    }
    campaigns: dict[str, dict] = {}
    for vici_list in ViciList.objects.filter(server=server, is_active=True).order_by("list_id"):
        campaign = vici_list.campaign_id or "DEMO"
        settings = campaigns.setdefault(campaign, {"campaign_id": campaign, "lists": [], **urls})
        settings["lists"].append(vici_list.list_id)
    return campaigns


def session_config(device: Device, web_url: str) -> dict:
    url = f"{web_url.rstrip('/')}/webhooks/gateway/{device.pk}/"
    hook = {"url": url, "events": SESSION_EVENTS, "hmac": {"key": device.webhook_secret}}
    return {"config": {"webhooks": [hook]}}


def demo_connect(*, vici_control_url: str, gateway_url: str, web_url: str) -> Linked:
    """Push the call URLs and lists to the VICIdial simulator and the webhooks to the
    gateway simulator (both must be up)."""
    server = ViciServer.objects.get(name=SERVER_NAME)
    campaigns = campaign_settings(server, web_url)
    for settings in campaigns.values():
        requests.post(vici_control_url, json=settings, timeout=10).raise_for_status()
    sessions = []
    for device in Device.objects.filter(gateway_url=gateway_url).order_by("pk"):
        answer = requests.put(
            f"{gateway_url}/api/sessions/{device.gateway_session}",
            json=session_config(device, web_url),
            headers={"X-Api-Key": GATEWAY_TOKEN},
            timeout=10,
        )
        answer.raise_for_status()
        sessions.append(device.gateway_session)
    return Linked({c: s["lists"] for c, s in campaigns.items()}, sessions)


def demo_key(*, workspace: Workspace, name: str) -> str:
    """A fresh key named ``name`` (the previous ones of that name are revoked): a demo key
    is printed at each start, and only a new key can be (keys are stored hashed)."""
    for old in ApiKey.objects.filter(workspace=workspace, name=name, revoked_at__isnull=True):
        api_key_revoke(api_key=old)
    _, raw = api_key_create(workspace=workspace, name=name)
    return raw

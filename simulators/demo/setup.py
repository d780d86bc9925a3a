"""The demo's configuration, loaded by ``python -m simulators setup`` (``make run``):
routing rules with OR groups, destinations with caps and a business-hours schedule, a
VICIdial server (the simulator) with its call-URL hook and lists in two campaigns, active
devices on the gateway simulator, a drip sequence, and a person of each role.

Idempotent: what exists is found by its name and kept as a manager may have edited it;
only the simulators' addresses follow the ports of this run.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from broadcast.models import Device, Sequence, Step
from calllogs.models import ServerHook
from core.roles import AGENT, INTEGRATOR, MANAGER, roles_upsert
from dialer.models import ViciList, ViciServer
from dialer.services import server_set_password
from leads.models import Workspace
from leads.services import member_create, workspace_create
from routing.models import RoutingRule
from routing.services import rule_save
from simulators.demo import GATEWAY_TOKEN, VICI_USER

SERVER_NAME = "Demo VICIdial (simulator)"
SEQUENCE_NAME = "Demo welcome (simulated WhatsApp)"
# (list_id, campaign, name, workspace slug)
LISTS = [
    (1001, "DEMOSOL", "Solar West", "acme-sales"),
    (1002, "DEMOSOL", "Solar general", "acme-sales"),
    (2001, "DEMOPTN", "Partner insurance", "partner-leads"),
]
STEPS = [
    (0, "Hi {first_name}, thanks for asking about {industry} offers. Reply STOP to opt out."),
    (2, "{first_name}, an advisor can call you today: reply YES, or STOP to opt out."),
    (10, "Last note from us, {first_name}: code {promo} is yours this week."),
]
DEVICES = 6  # at 1-3 s each: enough to keep up with the demo's enrollments
PEOPLE = [("manager", MANAGER), ("agent", AGENT), ("integrator", INTEGRATOR)]
# The outbox drains every 5 minutes by default; the demo pushes within seconds.
DEMO_DRAIN = ("dialer: drain the VICIdial outbox", 10)


@dataclass
class Demo:
    workspaces: dict[str, Workspace]
    server: ViciServer
    lists: dict[int, ViciList]
    devices: list[Device]
    sequence: Sequence
    rules: list[RoutingRule]
    people: list[tuple[str, str, str]] = field(default_factory=list)  # (user, role, where)


def _workspaces() -> dict[str, Workspace]:
    wanted = {"acme-sales": ("Acme Sales", Workspace.Kind.INTERNAL)}
    wanted["partner-leads"] = ("Partner Leads", Workspace.Kind.PARTNER)
    found = {}
    for slug, (name, kind) in wanted.items():
        found[slug] = Workspace.objects.filter(slug=slug).first() or workspace_create(
            name=name, kind=kind
        )
    return found


def _people(internal: Workspace, password: str) -> list[tuple[str, str, str]]:
    users = get_user_model()
    if not users.objects.filter(username="admin").exists():
        users.objects.create_superuser("admin", "admin@example.com", password)
    roles_upsert()
    people = [("admin", "admin", "/admin/")]
    for username, role in PEOPLE:
        member_create(username=username, workspace=internal, role=role, password=password)
        people.append((username, role, "/login/" if role == AGENT else "/admin/"))
    return people


def _dialer(vici_url: str, vici_password: str, workspaces: dict[str, Workspace]):
    server, _ = ViciServer.objects.update_or_create(
        name=SERVER_NAME,
        defaults={"api_url": vici_url, "api_user": VICI_USER, "source": "leadbrain"},
    )
    server_set_password(server=server, password=vici_password)
    ServerHook.objects.get_or_create(server=server)
    lists = {}
    for list_id, campaign, name, slug in LISTS:
        lists[list_id], _ = ViciList.objects.get_or_create(
            server=server,
            list_id=list_id,
            defaults={"campaign_id": campaign, "name": name, "workspace": workspaces[slug]},
        )
    return server, lists


def _broadcast(gateway_url: str, internal: Workspace) -> tuple[list[Device], Sequence]:
    devices, new = [], []
    for n in range(1, DEVICES + 1):
        device, created = Device.objects.update_or_create(
            workspace=internal,
            gateway_session=f"sim{n}",
            defaults={"gateway_url": gateway_url, "gateway_token": GATEWAY_TOKEN},
            create_defaults={
                "name": f"Simulated WhatsApp {n}",
                "phone": f"+1213555{7000 + n:04d}",
                "gateway_url": gateway_url,
                "gateway_token": GATEWAY_TOKEN,
                "min_interval_seconds": 1.0,
                "max_interval_seconds": 3.0,
                "daily_cap": 5000,
            },
        )
        devices.append(device)
        if created:
            new.append(device)
    sequence = Sequence.objects.filter(workspace=internal, name=SEQUENCE_NAME).first()
    if sequence is None:
        sequence = Sequence.objects.create(
            workspace=internal,
            name=SEQUENCE_NAME,
            window_start=dt.time(0, 0),
            window_end=dt.time(23, 59, 59),
            placeholder_defaults={"first_name": "there", "promo": "DEMO10"},
        )
        for position, (delay, template) in enumerate(STEPS, start=1):
            Step.objects.create(
                sequence=sequence, position=position, delay_minutes=delay, template=template
            )
    sequence.devices.add(*new)  # a device this run added (a newer demo has more) sends it too
    return devices, sequence


def _rule_specs(ws: dict[str, Workspace], lists: dict[int, ViciList], seq: Sequence) -> list:
    acme, partner = ws["acme-sales"], ws["partner-leads"]
    to_partner = {"workspace": partner, "vici_list": lists[2001], "cap_per_day": 1500}
    return [
        (
            {"name": "West coast solar", "priority": 300},
            [{"field": "state", "operator": "in", "value": "CA,AZ"}],
            [{"workspace": acme, "vici_list": lists[1001], "sequence": seq, "cap_per_hour": 600}],
        ),
        (
            {"name": "Paid social split", "priority": 200, "sources": "facebook,google"},
            [],
            [
                {"workspace": acme, "vici_list": lists[1002], "sequence": seq, "weight": 70},
                {**to_partner, "weight": 30},
            ],
        ),
        (
            {"name": "Texas or Florida, business hours", "priority": 150},
            [
                {"group": 0, "field": "state", "operator": "eq", "value": "TX"},
                {"group": 1, "field": "state", "operator": "eq", "value": "FL"},
            ],
            [
                {
                    "workspace": acme,
                    "vici_list": lists[1002],
                    "cap_per_hour": 120,
                    "timezone": "America/Chicago",
                    "schedule_days": "01234",
                    "schedule_start": dt.time(8),
                    "schedule_end": dt.time(20),
                },
                to_partner,  # overflow: nights, weekends and past the cap
            ],
        ),
        (
            {"name": "Everything else", "priority": 10},
            [],
            [{"workspace": acme, "vici_list": lists[1002], "cap_per_day": 4000}, to_partner],
        ),
    ]


def _rules(ws, lists, sequence) -> list[RoutingRule]:
    rules = []
    for data, conditions, destinations in _rule_specs(ws, lists, sequence):
        rule = RoutingRule.objects.filter(name=data["name"]).first()
        if rule is None:
            distribution = "weighted" if "weight" in destinations[0] else "single"
            rule = rule_save(
                rule=None,
                data={**data, "distribution": distribution},
                conditions=conditions,
                destinations=destinations,
                workspaces=None,
            )
        rules.append(rule)
    return rules


def _fast_drain() -> None:
    name, seconds = DEMO_DRAIN
    every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    PeriodicTask.objects.filter(name=name).update(interval=every, crontab=None)


@transaction.atomic
def demo_setup(*, vici_url: str, vici_password: str, gateway_url: str, password: str) -> Demo:
    """Create what is missing of the demo configuration; the simulators' URLs follow."""
    workspaces = _workspaces()
    people = _people(workspaces["acme-sales"], password)
    server, lists = _dialer(vici_url, vici_password, workspaces)
    devices, sequence = _broadcast(gateway_url, workspaces["acme-sales"])
    rules = _rules(workspaces, lists, sequence)
    _fast_drain()
    return Demo(workspaces, server, lists, devices, sequence, rules, people)

"""Two workspaces, each with one of everything a person may reach (a lead with its events
and routing log, a routing rule, a VICIdial list and an outbox item, a device, a sequence,
an enrollment and its message, a call, a suppression, an API key, a retry item): the
scoping tests give a person one of them and prove the other invisible and unchangeable."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from broadcast import services as broadcast_services
from broadcast.models import Device, Enrollment, Message, Sequence, Step
from calllogs.models import CallLog
from dialer.models import OutboxItem, ViciList, ViciServer
from leads.events import EventSpec, lead_events_record
from leads.models import ApiKey, Lead, LeadEvent, Suppression, Workspace
from routing.models import RetryItem, RoutingLog, RoutingRule, RuleDestination
from tests.conftest import make_api_key
from tests.leads.factories import LeadFactory


@dataclass
class World:
    workspace: Workspace
    lead: Lead
    rule: RoutingRule
    vici_list: ViciList
    device: Device
    sequence: Sequence
    enrollment: Enrollment
    message: Message
    call: CallLog
    suppression: Suppression
    api_key: ApiKey
    retry: RetryItem
    outbox: OutboxItem
    event: LeadEvent
    routing_log: RoutingLog


def make_world(name: str, server: ViciServer, n: int) -> World:
    workspace = Workspace.objects.create(name=f"{name} team", slug=name)
    lead = LeadFactory(
        workspace=workspace, first_name=f"{name.title()}lead", phone=f"+1213555{n:04d}"
    )
    rule = RoutingRule.objects.create(name=f"{name} rule")
    rule.workspaces.set([workspace])
    vici_list = ViciList.objects.create(
        server=server, workspace=workspace, list_id=5000 + n, name=f"{name} list"
    )
    RuleDestination.objects.create(rule=rule, workspace=workspace, vici_list=vici_list)
    device = Device.objects.create(
        workspace=workspace,
        name=f"{name} device",
        phone=f"+1555000{n:04d}",
        gateway_url="http://127.0.0.1:9/",
        gateway_session=f"s{n}",
    )
    sequence = Sequence.objects.create(workspace=workspace, name=f"{name} sequence")
    Step.objects.create(sequence=sequence, position=1, template="Hi {first_name}")
    broadcast_services.enrollment_create_many(lead_ids=[lead.pk], sequence_id=sequence.pk)
    call = CallLog.objects.create(
        server=server,
        uniqueid=f"{n}.1",
        call_time=timezone.now() - timedelta(minutes=5),
        lead_id=lead.pk,
        phone=lead.phone,
        status="SALE",
        agent=f"{name}agent",
    )
    lead_events_record(events=[EventSpec(lead_id=lead.pk, kind="note", message=f"{name} note")])
    routing_log = RoutingLog.objects.create(
        created_at=timezone.now(), lead_id=lead.pk, outcome="unrouted", reason=f"{name} test"
    )
    return World(
        workspace=workspace,
        lead=lead,
        rule=rule,
        vici_list=vici_list,
        device=device,
        sequence=sequence,
        enrollment=Enrollment.objects.get(lead_id=lead.pk),
        message=Message.objects.get(lead_id=lead.pk),
        call=call,
        suppression=Suppression.objects.create(
            workspace=workspace, kind="phone", value=f"+1213666{n:04d}"
        ),
        api_key=ApiKey.objects.get(prefix=_key_prefix(make_api_key(workspace))),
        retry=RetryItem.objects.create(lead_id=lead.pk, next_retry_at=timezone.now()),
        outbox=OutboxItem.objects.create(
            lead_id=lead.pk,
            server=server,
            vici_list=vici_list,
            operation="add_lead",
            next_attempt_at=timezone.now(),
        ),
        event=LeadEvent.objects.get(lead_id=lead.pk, kind="note"),
        routing_log=routing_log,
    )


def _key_prefix(raw: str) -> str:
    return raw.split("_")[1]


def make_worlds() -> tuple[World, World]:
    """("mine", "theirs"): the first is the one the test's person belongs to."""
    server = ViciServer.objects.create(name="vici1", api_url="http://127.0.0.1:9/", api_user="u")
    return make_world("mine", server, 1), make_world("theirs", server, 2)

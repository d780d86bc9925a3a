"""The contact-safety matrix: every entry path x every timing -> nobody on the do-not-contact
list is added to VICIdial, left dialable there, or messaged.

Checked from the doubles' own records: the VICIdial double's requests and leads, the
gateway double's received sends. "Suppressed" here is what a person's opt-out does
(``suppression_add``, as the admin, a DNC disposition or a STOP reply would).

Timings: before the lead arrives; between routing and the push; while the push is in
flight (claimed and on its way: it may reach VICIdial, but the lead must end not
dialable there); during a VICIdial outage (the push waits, the suppression lands, then
VICIdial comes back).
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from dialer import services as dialer_services
from dialer.models import OutboxItem
from dialer.services.pipeline import DrainStats, Pipeline
from dialer.services.send import item_send
from leads.models import Lead
from leads.services import lead_ingest_batch, suppression_add
from routing import services as routing_services
from tests.broadcast.fixtures import dispatch_until, make_device, make_sequence
from tests.routing.factories import make_rule

pytestmark = pytest.mark.django_db

PHONE = "+14155550177"
NATIONAL = "4155550177"
OTHER = "+14155550188"
PATHS = ["intake", "bulk", "csv", "patch", "reroute", "routing"]
TIMINGS = ["before_intake", "between_routing_and_push", "push_in_flight", "vici_outage"]


class World:
    def __init__(
        self, *, workspace, vici, server, vici_list, other_list, gateway, api, admin, commit
    ):
        self.commit = commit  # run a step and the on-commit callbacks it queued
        self.workspace, self.vici, self.server = workspace, vici, server
        self.vici_list, self.other_list, self.gateway = vici_list, other_list, gateway
        self.api, self.admin = api, admin
        self.device = make_device(workspace, gateway)
        self.sequence = make_sequence(workspace, "Hi {first_name}")
        make_rule(
            "everyone",
            destinations=[
                {"workspace": workspace, "vici_list": vici_list, "sequence": self.sequence}
            ],
        )

    # --- the pipeline --------------------------------------------------------------------

    def route(self) -> None:
        routing_services.route_pending(worker_id="matrix")

    def drain(self) -> None:
        OutboxItem.objects.filter(state="pending").update(next_attempt_at=timezone.now())
        dialer_services.outbox_drain(server_id=self.server.pk)

    def dispatch(self) -> None:
        dispatch_until(lambda: True, seconds=5, step=0.5)

    def suppress(self) -> None:
        suppression_add(kind="phone", value=PHONE, reason="opted out", source="matrix")

    # --- what the doubles saw ------------------------------------------------------------

    def adds(self) -> list[dict]:
        return [
            r
            for r in self.vici.state.requests
            if r.get("function") == "add_lead" and r.get("phone_number") == NATIONAL
        ]

    def dialable_in_vici(self) -> list[dict]:
        return [
            lead
            for lead in self.vici.state.leads.values()
            if lead.get("phone_number") == NATIONAL and lead.get("status") != "DNC"
        ]

    def sends(self) -> list:
        return [s for s in self.gateway.sent if s.chat_id.startswith(PHONE.lstrip("+"))]


@pytest.fixture
def world(
    workspace,
    vici,
    server,
    vici_list,
    other_list,
    gateway,
    api_client,
    admin_client,
    django_capture_on_commit_callbacks,
):
    def commit(step):
        with django_capture_on_commit_callbacks(execute=True):
            step()

    return World(
        commit=commit,
        workspace=workspace,
        vici=vici,
        server=server,
        vici_list=vici_list,
        other_list=other_list,
        gateway=gateway,
        api=api_client,
        admin=admin_client,
    )


# --- entry paths: each brings PHONE in (or back) -------------------------------------------


def enter(world: World, path: str) -> None:
    """The person arrives (or is changed/rerouted) through ``path``."""
    if path == "intake":
        world.api.post("/api/v1/leads/", {"phone": PHONE, "first_name": "Pat"}, format="json")
    elif path == "bulk":
        world.api.post(
            "/api/v1/leads/bulk/", [{"phone": PHONE, "first_name": "Pat"}], format="json"
        )
    elif path == "csv":
        upload = SimpleUploadedFile("leads.csv", f"phone,first_name\n{PHONE},Pat\n".encode())
        world.admin.post(
            "/admin/leads/lead/import-csv/", {"workspace": world.workspace.pk, "file": upload}
        )
    elif path == "routing":
        lead_ingest_batch(workspace=world.workspace, rows=[{"phone": PHONE, "first_name": "Pat"}])
    elif path == "patch":
        lead = Lead.objects.get(phone=OTHER)
        world.api.patch(f"/api/v1/leads/{lead.pk}/", {"phone": PHONE}, format="json")
    elif path == "reroute":
        lead = Lead.objects.get(phone=PHONE)
        world.api.post(f"/api/v1/leads/{lead.pk}/reroute/")


def prepare(world: World, path: str) -> None:
    """What exists before the entry: for PATCH a lead with another phone, for a reroute
    the person already routed and pushed (both in VICIdial already)."""
    if path in ("patch", "reroute"):
        phone = OTHER if path == "patch" else PHONE
        lead_ingest_batch(workspace=world.workspace, rows=[{"phone": phone, "first_name": "Pat"}])
        world.route()
        world.drain()
        # The rule now sends leads elsewhere, so a reroute is a move.
        from routing.models import RuleDestination

        RuleDestination.objects.update(vici_list=world.other_list)


def in_flight_push(world: World) -> None:
    """Claim the due pushes, let the person opt out, then let the pushes land."""
    lists = {world.vici_list.pk: world.vici_list, world.other_list.pk: world.other_list}
    pipe = Pipeline(world.server.pk, lists, DrainStats())
    in_flight = pipe.claim(100)
    world.commit(world.suppress)
    client = dialer_services.client_for(world.server)
    pipe.record([item_send(client, item, lists) for item in in_flight], final=True)


def outage_then_suppress(world: World) -> None:
    world.vici.down()
    world.drain()
    world.commit(world.suppress)
    world.vici.up()


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("path", PATHS)
def test_nobody_suppressed_is_pushed_left_dialable_or_messaged(world, path, timing):
    world.commit(lambda: prepare(world, path))
    adds_before = len(world.adds())
    if timing == "before_intake":
        world.commit(world.suppress)
    world.commit(lambda: enter(world, path))
    assert Lead.objects.filter(phone=PHONE).exists()  # the entry really brought the person in
    world.commit(world.route)
    if timing == "between_routing_and_push":
        world.commit(world.suppress)
    elif timing == "push_in_flight":
        world.commit(lambda: in_flight_push(world))
    elif timing == "vici_outage":
        outage_then_suppress(world)
    world.commit(world.drain)
    world.commit(world.drain)  # what the last drain enqueued (a DNC status) goes too
    world.commit(world.dispatch)
    new_adds = world.adds()[adds_before:]
    if timing != "push_in_flight":
        assert new_adds == []  # never added after the person was known to be suppressed
    assert world.dialable_in_vici() == []  # and never left dialable there
    assert world.sends() == []
    assert set(Lead.objects.filter(phone=PHONE).values_list("status", flat=True)) <= {
        "suppressed",
        "dnc",
    }


@pytest.mark.parametrize("path", PATHS)
def test_without_an_opt_out_the_same_paths_push_and_message(world, path):
    """The control: the matrix above is not green because nothing ever flows."""
    world.commit(lambda: prepare(world, path))
    world.commit(lambda: enter(world, path))
    world.commit(world.route)
    world.commit(world.drain)
    assert world.dialable_in_vici()
    if path != "patch":  # a changed phone is mirrored to VICIdial; its sequence was sent already
        world.commit(lambda: dispatch_until(lambda: bool(world.sends()), seconds=10))
        assert world.sends()

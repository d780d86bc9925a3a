import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from broadcast.models import Enrollment, EnrollmentRequest, Message, Sequence
from dialer.models import ViciList, ViciServer
from leads.models import Lead, LeadEvent
from routing import services
from routing.models import CapCounter, RetryItem, RoutingLog, RuleCondition
from tests.broadcast.fixtures import make_sequence
from tests.routing.factories import make_leads, make_rule

pytestmark = pytest.mark.django_db


def route(**kwargs):
    return services.route_pending(worker_id="test", **kwargs)


@pytest.fixture
def calls(monkeypatch):
    recorded = []
    for module, name in [
        (services.dialer_services, "outbox_enqueue_add"),
        (services.dialer_services, "outbox_enqueue_move"),
        (services.broadcast_services, "enrollment_create_many"),
    ]:
        monkeypatch.setattr(module, name, lambda _n=name, **kw: recorded.append((_n, kw)) or 0)
    return recorded


def test_routes_by_priority_and_explains_why(workspace, partner_workspace, calls):
    server = ViciServer.objects.create(name="v", api_url="http://x/api", api_user="u")
    vlist = ViciList.objects.create(server=server, list_id=101, name="Solar CA")
    seq = Sequence.objects.create(workspace=workspace, name="Welcome")
    make_rule("low", priority=1, destinations=[{"workspace": partner_workspace}])
    high = make_rule(
        "solar CA",
        priority=10,
        conditions=[{"field": "state", "operator": "eq", "value": "CA"}],
        destinations=[{"workspace": workspace, "vici_list": vlist, "sequence": seq}],
    )
    [ca] = make_leads(workspace, 1, state="CA")
    [ny] = make_leads(workspace, 1, state="NY")
    stats = route()
    assert stats.routed == 2
    lead = Lead.objects.get(pk=ca)
    assert (lead.status, lead.destination_workspace_id, lead.routing_rule_id) == (
        "routed",
        workspace.pk,
        high.pk,
    )
    assert Lead.objects.get(pk=ny).destination_workspace_id == partner_workspace.pk
    event = LeadEvent.objects.get(lead_id=ca, kind="routed")
    assert event.message == f"Routed to {workspace.name} by rule solar CA because state equals CA"
    log = RoutingLog.objects.get(lead_id=ca)
    assert log.outcome == "routed" and log.rule_id == high.pk
    assert ("outbox_enqueue_add", {"lead_ids": [ca], "vici_list_id": vlist.pk}) in calls
    enrolled = [kw for name, kw in calls if name == "enrollment_create_many"]
    assert [(kw["lead_ids"], kw["sequence_id"]) for kw in enrolled] == [([ca], seq.pk)]


def test_custom_json_keys_can_be_matched(workspace):
    make_rule(
        "hot",
        conditions=[{"field": "custom.score", "operator": "gt", "value": "50"}],
        destinations=[{"workspace": workspace}],
    )
    hot = make_leads(workspace, 1, custom={"score": 80})
    cold = make_leads(workspace, 1, custom={"score": 20})
    route()
    assert Lead.objects.get(pk=hot[0]).status == "routed"
    assert Lead.objects.get(pk=cold[0]).status == "unrouted"


def test_or_groups_and_source_scope(workspace, calls):
    make_rule(
        "or",
        sources="fb, google",
        conditions=[
            {"field": "state", "operator": "eq", "value": "CA", "group": 0},
            {"field": "state", "operator": "eq", "value": "TX", "group": 1},
        ],
        destinations=[{"workspace": workspace}],
    )
    ids = make_leads(workspace, 1, state="TX", source="fb")
    ids += make_leads(workspace, 1, state="TX", source="tv")
    ids += make_leads(workspace, 1, state="NY", source="fb")
    route()
    statuses = dict(Lead.objects.values_list("id", "status"))
    assert [statuses[i] for i in ids] == ["routed", "unrouted", "unrouted"]
    assert "no active rule matched" in Lead.objects.get(pk=ids[1]).status_reason


def test_capped_or_closed_destination_falls_through_to_next_rule(workspace, partner_workspace):
    make_rule(
        "capped", priority=10, destinations=[{"workspace": partner_workspace, "cap_per_day": 2}]
    )
    make_rule(
        "closed", priority=5, destinations=[{"workspace": partner_workspace, "schedule_days": ""}]
    )
    make_rule("rest", priority=1, destinations=[{"workspace": workspace}])
    make_leads(workspace, 5)
    route()
    by_ws = Lead.objects.filter(status="routed").values_list("destination_workspace_id", flat=True)
    assert sorted(by_ws).count(partner_workspace.pk) == 2
    assert list(by_ws).count(workspace.pk) == 3


def test_unrouted_leads_go_to_the_fallback_with_reason(workspace, partner_workspace, settings):
    settings.ROUTING_FALLBACK_WORKSPACE = partner_workspace.slug
    [lead_id] = make_leads(workspace, 1)
    route()
    lead = Lead.objects.get(pk=lead_id)
    assert lead.status == "routed" and lead.destination_workspace_id == partner_workspace.pk
    assert RoutingLog.objects.get(lead_id=lead_id).outcome == "fallback"


def test_not_sold_to_a_second_partner(workspace, partner_workspace):
    other = type(partner_workspace).objects.create(name="P2", slug="p2", kind="partner")
    make_rule(
        "to partner 1", priority=10, sources="a", destinations=[{"workspace": partner_workspace}]
    )
    make_rule("to partner 2", priority=5, destinations=[{"workspace": other}])
    [first] = make_leads(workspace, 1, source="a")
    route()
    assert Lead.objects.get(pk=first).destination_workspace_id == partner_workspace.pk
    # the same person arrives in another workspace: partner 2 must not get it
    [again] = make_leads(other, 1, source="b")
    Lead.objects.filter(pk=again).update(
        dedupe_hash=Lead.objects.get(pk=first).dedupe_hash
    )  # same person
    route()
    lead = Lead.objects.get(pk=again)
    assert lead.status == "unrouted"
    assert "already sold to another partner" in lead.status_reason


def test_expired_leads_become_expired(workspace):
    make_rule("all", destinations=[{"workspace": workspace}])
    [lead_id] = make_leads(workspace, 1)
    Lead.objects.filter(pk=lead_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    route()
    lead = Lead.objects.get(pk=lead_id)
    assert lead.status == "expired" and "expired" in lead.status_reason
    assert LeadEvent.objects.filter(lead_id=lead_id, kind="expired").exists()


def test_rule_cache_is_never_stale_after_a_save(workspace, partner_workspace):
    rule = make_rule(
        "r",
        conditions=[{"field": "state", "operator": "eq", "value": "CA"}],
        destinations=[{"workspace": workspace}],
    )
    make_leads(workspace, 1, state="NY")
    route()
    assert Lead.objects.get().status == "unrouted"
    condition = RuleCondition.objects.get(rule=rule)
    condition.value = "NY"
    condition.save()
    [again] = make_leads(partner_workspace, 1, state="NY")
    route()
    assert Lead.objects.get(pk=again).status == "routed"


def test_failures_retry_with_backoff_then_fail(workspace, monkeypatch, settings):
    settings.ROUTING_MAX_ATTEMPTS = 3
    make_rule(
        "boom",
        destinations=[
            {
                "workspace": workspace,
                "sequence": Sequence.objects.create(workspace=workspace, name="s"),
            }
        ],
    )

    def explode(**kwargs):
        raise RuntimeError("gateway down")

    monkeypatch.setattr(services.broadcast_services, "enrollment_create_many", explode)
    [lead_id] = make_leads(workspace, 1)
    stats = route()
    assert stats.failed == 1
    item = RetryItem.objects.get(lead_id=lead_id)
    first_delay = item.next_retry_at - timezone.now()
    assert timedelta(seconds=10) < first_delay <= timedelta(seconds=31)
    assert Lead.objects.get(pk=lead_id).status == "pending"
    assert route().claimed == 0  # waiting for its retry time, not swept
    for attempt in (2, 3):
        RetryItem.objects.update(next_retry_at=timezone.now())
        assert services.retry_drain(worker_id="t") == 1
        assert RetryItem.objects.get().attempts == attempt
    lead = Lead.objects.get(pk=lead_id)
    assert lead.status == "failed" and "gateway down" in lead.status_reason
    assert RetryItem.objects.get().is_dead
    assert LeadEvent.objects.filter(lead_id=lead_id, kind="routing_failed").exists()
    monkeypatch.undo()
    services.retry_now(lead_ids=[lead_id], actor="admin")
    services.retry_drain(worker_id="t")
    assert Lead.objects.get(pk=lead_id).status == "routed"
    assert not RetryItem.objects.exists()


def test_backoff_grows_exponentially():
    delays = [services.retry_delay(n).total_seconds() for n in (1, 2, 3, 4)]
    assert 15 <= delays[0] <= 30 and 30 <= delays[1] <= 60 and 60 <= delays[2] <= 120
    assert 120 <= delays[3] <= 240


def test_stale_lock_is_reclaimed(workspace):
    """A claim written in a transaction of its own (by a release before batches held their
    leads by row locks, still running in a rolling deploy) is respected until stale."""
    make_rule("all", destinations=[{"workspace": workspace}])
    [lead_id] = make_leads(workspace, 1)
    Lead.objects.filter(pk=lead_id).update(locked_by="dead", locked_at=timezone.now())
    assert route().claimed == 0  # held by the dead worker
    Lead.objects.filter(pk=lead_id).update(locked_at=timezone.now() - timedelta(minutes=6))
    assert route().routed == 1


def test_day_cap_resets_at_the_destinations_local_midnight(workspace):
    make_rule(
        "capped",
        destinations=[{"workspace": workspace, "cap_per_day": 1, "timezone": "America/New_York"}],
    )
    with time_machine.travel(datetime(2026, 11, 24, 4, 30, tzinfo=UTC), tick=False):  # 23:30 NY
        make_leads(workspace, 2)
        assert route().routed == 1
    with time_machine.travel(datetime(2026, 11, 24, 4, 59, tzinfo=UTC), tick=False):
        assert route().routed == 0  # still the same local day
    Lead.objects.filter(status="unrouted").update(status="pending")
    with time_machine.travel(datetime(2026, 11, 24, 5, 1, tzinfo=UTC), tick=False):  # 00:01 NY
        assert route().routed == 1
    assert CapCounter.objects.filter(period="d").count() == 2


def test_reroute_sends_back_and_moves_in_vici(workspace, partner_workspace, calls):
    server = ViciServer.objects.create(name="v", api_url="http://x/api", api_user="u")
    list_a = ViciList.objects.create(server=server, list_id=1, name="A")
    list_b = ViciList.objects.create(server=server, list_id=2, name="B")
    rule = make_rule("r", destinations=[{"workspace": workspace, "vici_list": list_a}])
    [lead_id] = make_leads(workspace, 1)
    route()
    Lead.objects.filter(pk=lead_id).update(vici_list_number=1, vici_lead_id=77)
    rule.destinations.update(vici_list=list_b)
    services.rules_version_bump()
    services.lead_reroute(lead=Lead.objects.get(pk=lead_id), actor="test")
    route()
    assert ("outbox_enqueue_move", {"lead_ids": [lead_id], "vici_list_id": list_b.pk}) in calls


def test_batch_routing_is_set_based(workspace, django_assert_max_num_queries):
    make_rule("all", destinations=[{"workspace": workspace, "cap_per_hour": 1000}])
    make_leads(workspace, 200)
    with django_assert_max_num_queries(21):
        stats = route(batch_size=200)
    assert stats.routed == 200


def _lead_partitions(sql: str) -> set[str]:
    """The partitions of leads a statement is planned for (EXPLAIN, not run)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = json.dumps(cursor.fetchone()[0])
    return set(re.findall(r'"Relation Name": "(leads_lead_[a-z0-9]+)"', plan))


def test_a_claim_that_finds_nothing_writes_nothing(workspace):
    with CaptureQueriesContext(connection) as queries:
        assert route().claimed == 0
    assert queries.captured_queries  # it did look
    assert not [q["sql"] for q in queries if re.search(r"\bUPDATE leads_lead\b", q["sql"])]


def test_routing_writes_leads_in_the_partitions_that_hold_them_only(workspace):
    """The decision's write names the leads' partition key: it is planned for the
    partitions that hold the batch, not for every partition of leads."""
    make_rule("all", destinations=[{"workspace": workspace}])
    make_leads(workspace, 3)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'leads_lead'::regclass")
        assert cursor.fetchone()[0] > 2  # several partitions to choose from
    with CaptureQueriesContext(connection) as queries:
        assert route().routed == 3
    # A message's statements are joined by "; " (core.pipeline); these values hold none.
    statements = [
        statement
        for q in queries
        for statement in q["sql"].split("; ")
        if statement.startswith("UPDATE leads_lead")
    ]
    assert len(statements) == 1  # the decision (the claim is its row locks)
    assert [len(_lead_partitions(sql)) for sql in statements] == [1], statements


def test_a_pass_waits_on_postgresql_three_times_whatever_its_rules(workspace, partner_workspace):
    """The claim with the rules' version; the locks of the rules and counters with the
    partner sales; the writes: three messages for a batch of ten leads under a capped
    rotation with a partner (BEGIN and COMMIT besides, which the query log does not show)."""
    other = partner_workspace
    make_rule(
        "round robin",
        distribution="round_robin",
        destinations=[
            {"workspace": workspace, "cap_per_hour": 100},
            {"workspace": other, "cap_per_day": 100},
        ],
    )
    make_leads(workspace, 10)
    route()  # compiles the rules (their queries are not a pass's)
    make_leads(workspace, 10)
    with CaptureQueriesContext(connection) as queries:
        assert route().routed == 10
    # The test's own transaction makes the pass's a savepoint.
    messages = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(messages) == 3, [sql[:80] for sql in messages]
    assert set(Lead.objects.values_list("destination_workspace_id", flat=True)) == {
        workspace.pk,
        other.pk,
    }


def test_a_rule_destination_enrolls_leads_in_its_sequence(workspace, device):
    sequence = make_sequence(workspace, "Hi {first_name}")
    make_rule("drip", destinations=[{"workspace": workspace, "sequence": sequence}])
    ids = make_leads(workspace, 3, first_name="Ann")
    assert route().routed == 3
    enrolled = Enrollment.objects.filter(sequence=sequence)
    assert sorted(enrolled.values_list("lead_id", flat=True)) == ids
    assert Message.objects.filter(body="Hi Ann", status="pending").count() == 3


def test_a_sequence_that_cannot_enroll_does_not_block_routing(workspace, device):
    sequence = make_sequence(workspace, is_active=False)
    make_rule("drip", destinations=[{"workspace": workspace, "sequence": sequence}])
    [lead_id] = make_leads(workspace, 1)
    assert route().routed == 1
    assert Lead.objects.get(pk=lead_id).status == "routed"
    event = LeadEvent.objects.get(lead_id=lead_id, kind="enrollment_stopped")
    assert "is not active" in event.message


def test_leads_routed_while_no_device_is_active_wait_in_a_request(workspace):
    sequence = make_sequence(workspace)  # no active device in the workspace
    make_rule("drip", destinations=[{"workspace": workspace, "sequence": sequence}])
    ids = make_leads(workspace, 3)
    assert route().routed == 3
    request = EnrollmentRequest.objects.get()
    assert (request.sequence_id, sorted(request.lead_ids), request.reason, request.status) == (
        sequence.pk,
        ids,
        "no_device",
        "pending",
    )
    assert not LeadEvent.objects.filter(kind="enrollment_stopped").exists()


def test_routing_gives_its_rows_the_leads_scope_without_the_insert_triggers(
    workspace, partner_workspace
):
    """The routing log and history rows carry the lead's scope as the batch leaves it,
    given by routing (with every trigger off, nothing else could have written it)."""
    from django.db import connection

    make_rule(
        "CA to partner",
        priority=1,
        conditions=[{"field": "state", "operator": "eq", "value": "CA"}],
        destinations=[{"workspace": partner_workspace}],
    )
    [ca] = make_leads(workspace, 1, state="CA")
    [ny] = make_leads(workspace, 1, state="NY")
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # no trigger fires
    try:
        stats = route()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = origin")
    assert (stats.routed, stats.unrouted) == (1, 1)
    expected = {ca: (workspace.pk, partner_workspace.pk), ny: (workspace.pk, None)}
    logs = RoutingLog.objects.values_list("lead_id", "lead_workspace_id", "lead_destination_id")
    assert {r[0]: (r[1], r[2]) for r in logs} == expected
    events = LeadEvent.objects.filter(kind__in=["routed", "unrouted"]).values_list(
        "lead_id", "lead_workspace_id", "lead_destination_id"
    )
    assert {r[0]: (r[1], r[2]) for r in events} == expected

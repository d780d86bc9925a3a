"""Call logs, messages, outbox items, lead events and routing log rows carry a copy of their
lead's scope (its workspace and destination), kept by database triggers, and a manager's
changelists read it: a workspace with none of a table's rows no longer walks the whole table
(bench/README.md, "Admin at 5,000,000 leads"). Who sees what stays decided by the lead:
these tests move a lead and watch its rows follow it."""

import importlib
from datetime import timedelta

import psycopg
import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from broadcast import services as broadcast_services
from broadcast.models import Message
from broadcast.services import message_lead_scope_recheck
from calllogs.admin import CallLogAdmin
from calllogs.models import CallLog
from calllogs.services import calllog_lead_scope_recheck
from dialer.models import OutboxItem
from dialer.services import outbox_lead_scope_recheck
from leads.events import leadevent_lead_scope_recheck
from leads.models import Lead, Workspace
from leads.pipeline import RoutingOutcome, leads_routing_apply
from routing.services import routinglog_lead_scope_recheck
from tests.conftest import make_member

pytestmark = pytest.mark.django_db

LISTS = {
    "calllogs_calllog": lambda w: w.call,
    "broadcast_message": lambda w: w.message,
    "dialer_outboxitem": lambda w: w.outbox,
    "leads_leadevent": lambda w: w.event,
    "routing_routinglog": lambda w: w.routing_log,
}


def stamps(row) -> tuple[int | None, int | None]:
    return tuple(
        type(row)
        .objects.filter(pk=row.pk)
        .values_list("lead_workspace_id", "lead_destination_id")
        .get()
    )


def route(lead: Lead, workspace: Workspace | None) -> None:
    outcome = RoutingOutcome(
        lead_id=lead.pk,
        status=Lead.Status.ROUTED if workspace else Lead.Status.UNROUTED,
        reason="test",
        destination_workspace_id=workspace.pk if workspace else None,
    )
    leads_routing_apply(outcomes=[outcome], now=timezone.now())


@pytest.fixture
def manager_client(client, worlds):
    client.force_login(make_member("mia", worlds[0].workspace, "manager"))
    return client


def shown(client, name: str) -> set[int]:
    response = client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


@pytest.mark.parametrize("name", sorted(LISTS))
def test_each_row_is_stamped_with_its_leads_scope_when_written(worlds, name):
    mine, _ = worlds
    row = LISTS[name](mine)
    assert stamps(row) == (mine.workspace.pk, mine.lead.destination_workspace_id)
    row.save()  # a save from a stale object (no stamps in Python) keeps them
    assert stamps(row) == (mine.workspace.pk, mine.lead.destination_workspace_id)


@pytest.mark.parametrize("name", sorted(LISTS))
def test_a_reroute_takes_the_rows_along_for_the_managers_lists(manager_client, worlds, name):
    mine, theirs = worlds
    row = LISTS[name](theirs)
    assert row.pk not in shown(manager_client, name)
    route(theirs.lead, mine.workspace)  # their lead is routed to my workspace
    assert stamps(row) == (theirs.workspace.pk, mine.workspace.pk)
    assert row.pk in shown(manager_client, name)
    route(theirs.lead, None)  # and sent back: gone again
    assert stamps(row) == (theirs.workspace.pk, None)
    assert row.pk not in shown(manager_client, name)


def test_a_call_matched_to_its_lead_later_is_stamped_then(worlds):
    mine, _ = worlds
    call = CallLog.objects.create(
        server_id=mine.call.server_id,
        uniqueid="99.1",
        call_time=timezone.now() - timedelta(minutes=1),
    )
    assert stamps(call) == (None, None)
    CallLog.objects.filter(pk=call.pk).update(lead_id=mine.lead.pk, lead_match=3)
    assert stamps(call) == (mine.workspace.pk, None)


def test_rows_of_a_lead_that_is_gone_show_to_no_manager(manager_client, worlds):
    """The lead decides, not the copy: a row whose lead left the table (archived) is out of
    every workspace's lists even though its stamps still name the workspace."""
    mine, _ = worlds
    with connection.cursor() as cursor:  # as when the lead's month is archived
        cursor.execute("DELETE FROM leads_lead WHERE id = %s", [mine.lead.pk])
    assert stamps(mine.outbox) == (mine.workspace.pk, None)
    assert mine.outbox.pk not in shown(manager_client, "dialer_outboxitem")
    assert mine.call.pk not in shown(manager_client, "calllogs_calllog")
    assert mine.message.pk not in shown(manager_client, "broadcast_message")


@pytest.mark.parametrize("name", sorted(LISTS))
def test_a_managers_page_is_read_one_index_walk_per_workspace_and_column(
    manager_client, worlds, name, monkeypatch
):
    """The query shape: each of the page's reads names one workspace in one stamp column
    (an ordered walk of that column's index, bounded by the page's end), never the whole
    table's order index with each row's lead probed."""
    mine, theirs = worlds
    route(theirs.lead, mine.workspace)  # two rows: a list of two pages
    model_admin = admin.site._registry[type(LISTS[name](mine))]
    monkeypatch.setattr(model_admin, "list_per_page", 1)
    with CaptureQueriesContext(connection) as queries:
        assert len(shown(manager_client, name)) == 1
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and "ORDER BY" in q["sql"] and f'FROM "{name}"' in q["sql"]
    ]
    walks = {
        column: sql
        for sql in reads
        for column in ("lead_workspace_id", "lead_destination_id")
        if f'"{name}"."{column}" = {mine.workspace.pk}' in sql
    }
    assert set(walks) == {"lead_workspace_id", "lead_destination_id"}
    assert all(sql.endswith("LIMIT 1") for sql in walks.values())  # the page's end
    # ... without the list's own OR over both columns, which each walk implies (kept, it
    # misleads the planner's estimate of a walk into sorting the whole workspace).
    assert not any(f'"{name}"."lead_workspace_id" IN' in sql for sql in walks.values())
    fetches = [sql for sql in reads if sql not in walks.values()]
    assert len(fetches) == 1 and f'"{name}"."id" IN (' in fetches[0]  # the page, by id
    # The lead probe runs on the page's rows, not on every row a walk passes over.
    assert not any("EXISTS" in sql for sql in walks.values())
    assert "EXISTS" in fetches[0]


def test_pages_merge_the_branches_in_the_lists_order(manager_client, worlds, monkeypatch):
    """Rows of my own leads and of a lead routed to me from another workspace, times
    interleaved, one lead in both branches: every page is the exact slice of the order."""
    mine, theirs = worlds
    route(theirs.lead, mine.workspace)
    route(mine.lead, mine.workspace)  # in both branches: listed once
    now = timezone.now()
    for n in range(7):
        CallLog.objects.create(
            server_id=mine.call.server_id,
            uniqueid=f"{100 + n}.1",
            call_time=now - timedelta(minutes=10 + 3 * (n // 2)),  # ties broken by id
            lead_id=(mine.lead if n % 3 else theirs.lead).pk,
        )
    monkeypatch.setattr(CallLogAdmin, "list_per_page", 3)
    expected = list(
        CallLog.objects.filter(lead_id__in=[mine.lead.pk, theirs.lead.pk])
        .order_by("-call_time", "-id")
        .values_list("pk", flat=True)
    )
    url = reverse("admin:calllogs_calllog_changelist")
    pages = []
    for page in range(3):
        response = manager_client.get(url, {"p": page + 1})
        assert response.status_code == 200
        pages.append([row.pk for row in response.context["cl"].result_list])
    assert [pk for page in pages for pk in page] == expected and len(expected) == 9
    assert [len(page) for page in pages] == [3, 3, 3]
    oldest_first = manager_client.get(url, {"o": "0", "p": "2"}).context["cl"].result_list
    ascending = CallLog.objects.filter(pk__in=expected).order_by("call_time", "-pk")
    assert [row.pk for row in oldest_first] == list(ascending.values_list("pk", flat=True))[3:6]


def test_a_superusers_list_is_not_scoped(admin_client, worlds):
    with CaptureQueriesContext(connection) as queries:
        rows = shown(admin_client, "calllogs_calllog")
    assert {w.call.pk for w in worlds} <= rows
    assert not any('"lead_workspace_id" =' in q["sql"] for q in queries.captured_queries)


RECHECKS = {
    "calllogs_calllog": calllog_lead_scope_recheck,
    "broadcast_message": message_lead_scope_recheck,
    "dialer_outboxitem": outbox_lead_scope_recheck,
    "leads_leadevent": leadevent_lead_scope_recheck,
    "routing_routinglog": routinglog_lead_scope_recheck,
}


def insert_copy(row):
    """Another row of the same lead, as a second writer would insert it."""
    row = type(row).objects.get(pk=row.pk)
    row.pk = None
    if isinstance(row, CallLog):
        row.uniqueid = f"{row.uniqueid}9"
    if isinstance(row, OutboxItem):
        row.state = OutboxItem.State.SENT  # one open item per lead and operation
    row.save(force_insert=True)
    return row


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", sorted(LISTS))
def test_a_row_written_while_its_lead_moves_is_stamped_again_by_the_recheck(worlds, name):
    """The race the triggers alone leave open: the reroute's update of the lead is not yet
    committed when another transaction inserts a row of that lead; the row is stamped from
    the lead as it was, and the reroute's follow-up cannot see the row. The lead probe
    keeps it from the workspace the lead left; the re-check gives it to the one it went to."""
    mine, theirs = worlds
    first = LISTS[name](theirs)
    settings = connection.settings_dict
    rerouting = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    )
    try:
        rerouting.execute(  # the reroute, left open while the row is inserted
            "UPDATE leads_lead SET destination_workspace_id = %s WHERE id = %s",
            [mine.workspace.pk, theirs.lead.pk],
        )
        racing = insert_copy(LISTS[name](theirs))
        rerouting.commit()
    finally:
        rerouting.close()
    assert stamps(first) == (theirs.workspace.pk, mine.workspace.pk)  # followed the lead
    assert stamps(racing) == (theirs.workspace.pk, None)  # stamped from the lead as it was

    assert RECHECKS[name]() == 1
    assert stamps(racing) == (theirs.workspace.pk, mine.workspace.pk)
    assert RECHECKS[name]() == 0  # nothing left to fix: nothing written


@pytest.mark.parametrize("name", sorted(RECHECKS))
def test_beat_runs_each_tables_recheck_every_minute(worlds, name):
    app = name.split("_")[0]
    task_name = f"{RECHECKS[name].__name__}_task"
    [entry] = [
        s
        for s in importlib.import_module(f"{app}.schedules").SCHEDULES
        if s["task"] == f"{app}.tasks.{task_name}"
    ]
    assert entry["interval_seconds"] == 60
    task = getattr(importlib.import_module(f"{app}.tasks"), task_name)
    assert task.apply().get() == 0  # the worlds' rows are stamped right: nothing written


def test_enrollment_gives_its_messages_the_scope_it_read_with_the_lead(manager_client, worlds):
    """Enrollment writes the lead's workspace and destination on the first message itself
    (the insert trigger runs only when none is given); the rows are what the trigger would
    have written, and the manager the lead was routed to sees them."""
    mine, theirs = worlds
    route(theirs.lead, mine.workspace)
    broadcast_services.enrollment_create_many(
        lead_ids=[theirs.lead.pk], sequence_id=mine.sequence.pk
    )
    message = Message.objects.get(lead_id=theirs.lead.pk, enrollment__sequence=mine.sequence)
    assert stamps(message) == (theirs.workspace.pk, mine.workspace.pk)
    assert message.pk in shown(manager_client, "broadcast_message")


def test_a_message_inserted_without_a_scope_is_stamped_by_the_trigger(worlds):
    mine, _ = worlds
    copy = insert_copy(mine.message)  # the ORM gives no stamps: the trigger reads the lead
    assert stamps(copy) == (mine.workspace.pk, mine.lead.destination_workspace_id)


def test_a_scope_given_on_a_messages_insert_is_kept_and_an_update_stamps_from_the_lead(worlds):
    """broadcast 0009: the insert trigger runs only when no scope is given (enrollment gives
    the one it read with the lead); a wrong one given is mended by the re-check, and any
    update of the lead or the stamps reads the lead again."""
    mine, theirs = worlds
    given = Message.objects.get(pk=mine.message.pk)
    given.pk = None
    given.lead_workspace_id, given.lead_destination_id = theirs.workspace.pk, None
    given.save(force_insert=True)
    assert stamps(given) == (theirs.workspace.pk, None)  # kept as given: no lookup

    assert message_lead_scope_recheck() == 1
    assert stamps(given) == (mine.workspace.pk, mine.lead.destination_workspace_id)
    Message.objects.filter(pk=given.pk).update(lead_workspace_id=theirs.workspace.pk)
    assert stamps(given) == (mine.workspace.pk, mine.lead.destination_workspace_id)


def xmin(row) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT xmin::text::bigint FROM {row._meta.db_table} WHERE id = %s", [row.pk]
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("name", sorted(LISTS))
def test_one_statement_moving_many_leads_moves_all_their_rows_and_no_other(worlds, name):
    """Each table's copy follows its leads once per UPDATE statement of leads
    (``core.lead_scope_sql.follow_per_statement``): every lead the statement moved takes its
    rows along, and a statement that moves no lead rewrites no row."""
    mine, theirs = worlds
    rows = [LISTS[name](mine), LISTS[name](theirs)]
    before = [xmin(row) for row in rows]
    Lead.objects.filter(pk__in=[mine.lead.pk, theirs.lead.pk]).update(locked_by="someone")
    assert [xmin(row) for row in rows] == before  # no lead moved: nothing written
    routed = [
        RoutingOutcome(
            lead_id=w.lead.pk,
            status=Lead.Status.ROUTED,
            reason="test",
            destination_workspace_id=theirs.workspace.pk,
        )
        for w in worlds
    ]
    leads_routing_apply(outcomes=routed, now=timezone.now())  # one statement, both leads
    assert [stamps(row) for row in rows] == [
        (mine.workspace.pk, theirs.workspace.pk),
        (theirs.workspace.pk, theirs.workspace.pk),
    ]
    Lead.objects.filter(pk=mine.lead.pk).update(workspace_id=theirs.workspace.pk)
    assert stamps(rows[0]) == (theirs.workspace.pk, theirs.workspace.pk)

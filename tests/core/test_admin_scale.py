"""The admin at millions of rows: counts that stop at a cap, page links that stop there too,
sorting only by indexed columns, filter choices from small tables, and the indexes the
lists walk (bench/admin_scale.py times them at 5,000,000 leads)."""

import ast
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calllogs.models import CallLog, DispositionMap
from core.paginators import CappedCount, CappedCountPaginator
from leads.admin import LeadAdmin
from leads.intake import lead_ingest_batch
from leads.models import IntakeCount, Lead, Suppression
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def five_leads(workspace):
    return [LeadFactory(workspace=workspace, source=f"src{i}") for i in range(5)]


def test_a_count_stops_at_the_cap_and_shows_a_plus(admin_client, five_leads, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    url = reverse("admin:leads_lead_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    count = response.context["cl"].result_count
    assert isinstance(count, CappedCount) and count == 4 and str(count).startswith("3+")
    assert "3+" in response.content.decode()
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert counts and all("LIMIT 4" in sql for sql in counts)  # never a full count


def test_a_filtered_count_is_capped_too_and_exact_below_the_cap(
    admin_client, five_leads, monkeypatch
):
    url = reverse("admin:leads_lead_changelist")
    exact = admin_client.get(url, {"status__exact": "pending"}).context["cl"].result_count
    assert exact == 5 and not isinstance(exact, CappedCount)
    monkeypatch.setattr(CappedCountPaginator, "cap", 2)
    capped = admin_client.get(url, {"status__exact": "pending"}).context["cl"].result_count
    assert capped == 3 and str(capped) == "2+"


def test_no_page_link_goes_past_the_cap(admin_client, five_leads, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 2)
    monkeypatch.setattr(LeadAdmin, "list_per_page", 1)
    url = reverse("admin:leads_lead_changelist")
    response = admin_client.get(url)
    assert response.context["cl"].paginator.num_pages == 3  # not 5: pages stop at the cap
    beyond = admin_client.get(url, {"p": "5"})
    assert beyond.status_code == 302 and "e=1" in beyond["Location"]


def test_a_deep_page_reads_its_ids_alone_then_its_rows_by_id(admin_client, five_leads, monkeypatch):
    """Past ``defer_from`` skipped rows, the skipped rows are walked for their ids only (an
    index-only scan of the order's index, no row read from the table or joined), then the
    page's rows are fetched by id, in the list's order."""
    monkeypatch.setattr(CappedCountPaginator, "defer_from", 2)
    monkeypatch.setattr(LeadAdmin, "list_per_page", 2)
    url = reverse("admin:leads_lead_changelist")
    newest_first = list(Lead.objects.order_by("-created_at", "-id").values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url, {"p": "2"})
    assert [lead.pk for lead in response.context["cl"].result_list] == newest_first[2:4]
    skips = [q["sql"] for q in queries.captured_queries if "OFFSET 2" in q["sql"]]
    assert len(skips) == 1 and skips[0].startswith('SELECT "leads_lead"."id" AS "pk" FROM')
    assert "JOIN" not in skips[0]
    first = admin_client.get(url, {"p": "1"}).context["cl"].result_list  # shallow: as before
    assert [lead.pk for lead in first] == newest_first[:2]


def test_a_slow_count_gives_way_to_the_estimate(five_leads, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "count_timeout_ms", 5)
    slow = Lead.objects.extra(where=["pg_sleep(0.05) IS NOT NULL"])
    count = CappedCountPaginator(slow, 50).count
    assert isinstance(count, CappedCount) and str(count).startswith("about ")
    assert Lead.objects.count() == 5  # the connection is usable afterwards


def test_sorting_by_an_unindexed_column_is_refused_even_by_url(admin_client, five_leads):
    url = reverse("admin:leads_lead_changelist")
    response = admin_client.get(url)
    assert set(response.context["cl"].sortable_by) == {"created_at"}
    source_column = LeadAdmin.list_display.index("source")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url, {"o": str(source_column)})
    assert response.status_code == 200
    listing = [q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"]]
    assert listing and not any('ORDER BY "leads_lead"."source"' in sql for sql in listing)


def test_call_log_status_choices_come_from_the_disposition_table(admin_client, workspace):
    from dialer.models import ViciServer

    server = ViciServer.objects.create(name="v", api_url="http://127.0.0.1:9/", api_user="u")
    CallLog.objects.create(server=server, uniqueid="1.1", call_time="2026-01-01T00:00Z")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("admin:calllogs_calllog_changelist"))
    assert response.status_code == 200
    assert not any("DISTINCT" in q["sql"] for q in queries.captured_queries)
    choices = response.context["cl"].filter_specs[1].lookup_choices
    assert len(choices) == DispositionMap.objects.count() > 10
    filtered = admin_client.get(reverse("admin:calllogs_calllog_changelist"), {"status": "SALE"})
    assert filtered.status_code == 200 and filtered.context["cl"].result_count == 0


def _indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


def _single_column_indexes_on(table: str, column: str) -> list[str]:
    return [
        name
        for name, definition in _indexes(table).items()
        if definition.rstrip(")").endswith(f"({column}") or f"({column})" in definition
    ]


def test_the_lists_walk_indexes_and_no_fk_index_duplicates_a_composite_one():
    assert "leadevent_created_idx" in _indexes("leads_leadevent")
    assert "calllog_time_idx" in _indexes("calllogs_calllog")
    assert "routinglog_created_idx" in _indexes("routing_routinglog")
    assert "enrollment_workspace_idx" in _indexes("broadcast_enrollment")
    assert "enrollment_sequence_idx" in _indexes("broadcast_enrollment")  # filtered by sequence
    assert _single_column_indexes_on("leads_lead", "workspace_id") == []
    assert _single_column_indexes_on("leads_lead", "destination_workspace_id") == []
    assert _single_column_indexes_on("leads_leadevent", "lead_id") == []
    assert _single_column_indexes_on("calllogs_calllog", "lead_id") == []
    assert _single_column_indexes_on("calllogs_calllog", "server_id") == []
    # ... and the composite ones that serve those lookups are there.
    assert {"lead_ws_status_idx", "lead_dest_status_idx"} <= set(_indexes("leads_lead"))
    assert {"calllog_lead_idx", "calllog_server_time_idx"} <= set(_indexes("calllogs_calllog"))


def test_intake_counts_each_verdict_per_workspace_and_hour(workspace):
    rows = [
        {"phone": "+12135550101", "first_name": "A"},
        {"phone": "+12135550101", "first_name": "A again"},
        {"phone": "not a phone"},
    ]
    lead_ingest_batch(workspace=workspace, rows=rows)
    lead_ingest_batch(workspace=workspace, rows=[{"phone": "nope"}])
    row = IntakeCount.objects.get(workspace=workspace)
    assert (row.created, row.duplicate, row.suppressed, row.rejected) == (1, 1, 0, 2)
    assert row.hour.minute == 0 and row.hour.second == 0


def test_suppression_source_choices_are_a_fixed_set_never_a_distinct(admin_client, workspace):
    for value, source in [("+12135550101", "opt-out"), ("+12135550102", "api")]:
        Suppression.objects.create(kind="phone", value=value, workspace=workspace, source=source)
    for value, source in [("+12135550103", "crm-sync"), ("+12135550104", "")]:
        Suppression.objects.create(kind="phone", value=value, workspace=workspace, source=source)
    url = reverse("admin:leads_suppression_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert not any("DISTINCT" in q["sql"] for q in queries.captured_queries)
    source = next(f for f in response.context["cl"].filter_specs if f.title == "source")
    offered = [value for value, _ in source.lookup_choices]
    assert offered == [*Suppression.Source.values, "_other"]

    def listed(query: dict[str, str]) -> set[str]:
        response = admin_client.get(url, query)
        assert response.status_code == 200
        return {s.value for s in response.context["cl"].result_list}

    assert listed({"source": "opt-out"}) == {"+12135550101"}
    assert listed({"source": "_other"}) == {"+12135550103", "+12135550104"}
    # Any other value still filters exactly (a bookmark of the old filter), shown as chosen.
    response = admin_client.get(url, {"source": "crm-sync"})
    assert {s.value for s in response.context["cl"].result_list} == {"+12135550103"}
    assert ("crm-sync", "crm-sync") in next(
        f for f in response.context["cl"].filter_specs if f.title == "source"
    ).lookup_choices


SUPPRESSION_WRITERS = {"suppression_add", "suppression_add_many", "leads_mark_dnc"}


def _literals(expr: ast.expr) -> list[str]:
    """The strings an argument can be: ``"dnc"``, ``obj.source or "admin"``."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    if isinstance(expr, ast.BoolOp):
        return [s for value in expr.values for s in _literals(value)]
    if isinstance(expr, ast.IfExp):
        return _literals(expr.body) + _literals(expr.orelse)
    return []


def test_every_source_the_code_writes_is_a_choice_of_the_suppression_filter():
    """A new ``source=`` literal given to a suppression write path must be named in
    ``Suppression.Source``, or the admin filter would list it only under "other"."""
    root = Path(__file__).resolve().parents[2]
    written: dict[str, str] = {}
    for app in ("core", "leads", "dialer", "broadcast", "routing", "calllogs"):
        for path in (root / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name not in SUPPRESSION_WRITERS:
                    continue
                for keyword in node.keywords:
                    if keyword.arg == "source":
                        for literal in _literals(keyword.value):
                            written[literal] = f"{path.relative_to(root)}:{node.lineno}"
    assert {"opt-out", "dnc", "vicidial_dnc", "desk", "admin", "api"} <= set(written)
    written.pop("demo", None)  # the demo data's own, listed under "other"
    assert {s: where for s, where in written.items() if s not in Suppression.Source.values} == {}

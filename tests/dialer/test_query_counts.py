"""Query counts that must not grow with the number of rows (no query per item or row)."""

import threading

import pytest
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dialer import services
from dialer.models import OutboxItem, ViciList, ViciServer
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

# The drain lock taken and given back; the server's open check; one claim batch: budget,
# claim with its leads and the do-not-contact re-check; two result writes, each with the Vici
# lead id locks, the re-check of what reached VICIdial and whether the server was paused.
DRAIN_MAX_QUERIES = 41
CHANGELIST_MAX_QUERIES = 5  # session, user, two counts, the page


@pytest.fixture
def queries_off_the_main_thread(monkeypatch) -> list[str]:
    """SQL run by other threads (the drain's senders must not touch the database: their
    queries would escape the main connection's count)."""
    seen: list[str] = []
    execute = CursorWrapper.execute

    def counting(self, sql, params=None):
        if threading.current_thread() is not threading.main_thread():
            seen.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", counting)
    return seen


def enqueue(workspace, vici_list, n: int) -> None:
    ids = make_leads(workspace, n)
    assert services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk) == n


@pytest.mark.parametrize("items", [3, 30])
def test_a_drain_batch_costs_the_same_queries_for_3_or_30_items(
    workspace,
    server,
    vici_list,
    vici,
    items,
    django_assert_max_num_queries,
    queries_off_the_main_thread,
):
    # Results are written in chunks of max(concurrency, 25): with the concurrency above the
    # item count, both sizes are one claimed batch and one chunk, so only a query per item
    # could tell them apart.
    server.max_concurrency = 32
    server.save()
    enqueue(workspace, vici_list, items)
    with django_assert_max_num_queries(DRAIN_MAX_QUERIES):
        stats = services.outbox_drain(server_id=server.pk)
    assert (stats.sent, stats.batches) == (items, 1)
    assert len(vici.state.leads) == items
    assert queries_off_the_main_thread == []


def test_a_drain_costs_no_more_queries_for_30_items_than_for_3(
    workspace, server, vici_list, vici, django_assert_max_num_queries
):
    server.max_concurrency = 32
    server.save()
    enqueue(workspace, vici_list, 3)
    with CaptureQueriesContext(connection) as small:
        assert services.outbox_drain(server_id=server.pk).sent == 3
    enqueue(workspace, vici_list, 30)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert services.outbox_drain(server_id=server.pk).sent == 30


def make_servers(n: int) -> None:
    now = timezone.now()
    for i in range(n):
        server = ViciServer.objects.create(name=f"vici-{i}", api_url="http://vici/", api_user="u")
        vici_list = ViciList.objects.create(server=server, list_id=2000 + i, name=f"list {i}")
        OutboxItem.objects.bulk_create(
            OutboxItem(
                lead_id=i * 10 + k,
                server=server,
                vici_list=vici_list,
                operation=OutboxItem.Operation.ADD,
                state=state,
                next_attempt_at=now,
            )
            for k, state in enumerate(["pending", "in_flight", "sent", "failed", "dead"])
        )


@pytest.mark.parametrize("rows", [3, 20])
def test_vici_server_changelist_queries_do_not_grow_with_rows(
    admin_client, rows, django_assert_max_num_queries
):
    make_servers(rows)
    with django_assert_max_num_queries(CHANGELIST_MAX_QUERIES):
        page = admin_client.get("/admin/dialer/viciserver/")
    assert page.status_code == 200
    listed = page.context["cl"].result_list
    assert len(listed) == rows
    assert {(server._pending, server._failed) for server in listed} == {(2, 2)}

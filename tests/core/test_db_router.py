"""The read replica, played by a second real PostgreSQL database on the test server.

It holds the same tables as the test database but other rows: a row found only in it
shows a view read the replica; a row found only in the primary shows it did not.
Transactional tests: reads inside a transaction on the primary never go to the replica,
and the ordinary test transaction would be one.
"""

import socket
import time
from contextlib import contextmanager

import pytest
from django.db import connections, router, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from core import db_router
from core.db_router import (
    REPLICA,
    reading_replica,
    replica_health_forget,
    replica_lag_seconds,
    replica_usable,
)
from leads.models import Lead, Workspace
from tests.conftest import make_api_key
from tests.pgtools import alias_settings, database_create, database_drop, schema_copy

# The ``replica`` alias exists for this whole module (set up before each test's database
# fixture, so the test may use it); a test that needs it down or absent swaps it meanwhile.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])


@pytest.fixture(scope="module", autouse=True)
def replica_name(django_db_setup, django_db_blocker):
    primary = connections["default"].settings_dict["NAME"]
    name = f"{primary}_replica"
    with django_db_blocker.unblock():
        database_create(name)
        schema_copy(source=primary, target=name)
        connections.settings[REPLICA] = alias_settings(name)
    yield name
    with django_db_blocker.unblock():
        _forget_connection()
        connections.settings.pop(REPLICA, None)
        replica_health_forget()
        database_drop(name)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def _forget_connection() -> None:
    if hasattr(connections._connections, REPLICA):
        connections[REPLICA].close()
        delattr(connections._connections, REPLICA)


@contextmanager
def replica_as(settings_dict):
    """Point the ``replica`` alias elsewhere (None: no replica) for the duration."""
    kept = connections.settings[REPLICA]
    _forget_connection()
    if settings_dict is None:
        connections.settings.pop(REPLICA)
    else:
        connections.settings[REPLICA] = settings_dict
    replica_health_forget()
    try:
        yield
    finally:
        _forget_connection()
        connections.settings[REPLICA] = kept
        replica_health_forget()


def replica_down():
    return replica_as(alias_settings("nowhere", HOST="127.0.0.1", PORT=str(closed_port())))


@pytest.fixture(autouse=True)
def replica(replica_name, settings):
    settings.DATABASE_REPLICA_CHECK_SECONDS = 300
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 10
    replica_health_forget()
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead, leads_leadevent, leads_workspace CASCADE")
    yield replica_name
    replica_health_forget()


def only_in_replica(workspace: Workspace | None = None) -> tuple[Workspace, Lead]:
    """A marker workspace and lead in the replica (with the primary workspace's id if given)."""
    replica_ws = Workspace.objects.using(REPLICA).create(
        pk=workspace.pk if workspace else None,
        name=workspace.name if workspace else "Replica Marker",
        slug=workspace.slug if workspace else "replica-marker",
    )
    now = timezone.now()
    lead = Lead.objects.using(REPLICA).create(
        pk=900_001,
        workspace=replica_ws,
        created_at=now,
        updated_at=now,
        first_name="OnlyInReplica",
        phone="+14155550199",
        dedupe_hash="replica",
    )
    return replica_ws, lead


def key_client(workspace: Workspace) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(workspace)}")
    return client


def test_agent_page_reads_the_replica(admin_client, replica):
    search = {"q": "(415) 555-0199"}
    assert "OnlyInReplica" not in admin_client.get("/leads/", search).content.decode()
    only_in_replica()

    html = admin_client.get("/leads/", search).content.decode()

    assert "OnlyInReplica" in html  # the desk's search read the replica
    detail = admin_client.get("/leads/900001/")
    assert detail.status_code == 200 and "OnlyInReplica" in detail.content.decode()


def test_list_api_reads_the_replica_and_write_paths_do_not(workspace, replica):
    _, marker = only_in_replica(workspace)
    client = key_client(workspace)

    listed = client.get("/api/v1/leads/")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [marker.pk]

    # The single-lead API is not marked: it reads the primary, where the marker is not.
    assert client.get(f"/api/v1/leads/{marker.pk}/").status_code == 404
    created = client.post("/api/v1/leads/", {"phone": "+1 415 555 0142"}, format="json")
    assert created.status_code == 201
    new_id = created.json()["id"]
    assert Lead.objects.using("default").filter(pk=new_id).exists()
    assert not Lead.objects.using(REPLICA).filter(pk=new_id).exists()


def test_unreachable_replica_falls_back_to_the_primary(admin_client, workspace, settings, caplog):
    primary_lead = Lead.objects.create(
        workspace=workspace,
        created_at=timezone.now(),
        updated_at=timezone.now(),
        first_name="OnPrimary",
        phone="+14155550100",
        dedupe_hash="p",
    )
    with replica_down():
        page = admin_client.get("/leads/", {"q": "+14155550100"})
        listed = key_client(workspace).get("/api/v1/leads/")

    assert page.status_code == 200 and "OnPrimary" in page.content.decode()
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [primary_lead.pk]
    assert "read replica unreachable" in caplog.text


def test_replica_failing_during_a_view_is_retried_on_the_primary(workspace, caplog):
    assert replica_usable()  # checked and trusted for a while
    with replica_down():
        db_router._health.update(checked_at=time.monotonic(), usable=True)  # trusted still
        listed = key_client(workspace).get("/api/v1/leads/")
        assert listed.status_code == 200
        assert not replica_usable()  # marked down until the next check
    assert "again on the primary" in caplog.text


def test_a_lagging_replica_is_not_read(admin_client, replica, monkeypatch):
    only_in_replica()
    assert replica_lag_seconds() is None  # a server that is not a standby: no lag

    monkeypatch.setattr(db_router, "replica_lag_seconds", lambda: 30.0)
    replica_health_forget()
    search = {"q": "+14155550199"}
    assert "OnlyInReplica" not in admin_client.get("/leads/", search).content.decode()

    monkeypatch.setattr(db_router, "replica_lag_seconds", lambda: 3.0)
    replica_health_forget()
    assert "OnlyInReplica" in admin_client.get("/leads/", search).content.decode()


def test_the_health_check_is_cached(replica, monkeypatch):
    calls = []
    monkeypatch.setattr(db_router, "replica_lag_seconds", lambda: calls.append(1))
    assert [replica_usable() for _ in range(5)] == [True] * 5
    assert len(calls) == 1


def test_only_marked_reads_outside_a_transaction_go_to_the_replica(replica):
    assert router.db_for_read(Lead) == "default"
    with reading_replica():
        assert router.db_for_read(Lead) == REPLICA
        assert router.db_for_write(Lead) == "default"
        with transaction.atomic():
            assert router.db_for_read(Lead) == "default"  # select_for_update, read-your-writes
    replica_row = Workspace.objects.using(REPLICA).create(name="R", slug="r")
    assert router.db_for_write(Workspace, instance=replica_row) == "default"


def test_without_a_replica_every_read_is_the_primarys():
    with replica_as(None), reading_replica():
        assert router.db_for_read(Lead) == "default"

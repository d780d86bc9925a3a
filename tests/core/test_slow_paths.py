"""Slow paths: X-Response-Time on every answer, slow requests logged with route, workspace
and SQL count, and the admin page of the slowest statements (pg_stat_statements)."""

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.db import DatabaseError, connection
from django.urls import reverse

from core.pgstats import slow_statements, statements_read
from simulators.http import closed_port
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


def test_every_answer_says_how_long_it_took(client, api_client):
    for response in (client.get("/health"), api_client.get("/api/v1/leads/"), client.get("/x")):
        value = response["X-Response-Time"]
        assert value.endswith("ms") and float(value[:-2]) >= 0


def test_api_latency_samples_reach_health_in_one_send_per_second_per_process(
    api_client, monkeypatch
):
    from django.core.cache import cache
    from django_redis import get_redis_connection

    from core import middleware
    from core.selectors import api_p95_ms

    monkeypatch.setattr(middleware, "_latency_samples", middleware._LatencySamples())
    redis, key = get_redis_connection("default"), cache.make_key(middleware.LATENCY_KEY)
    for _ in range(5):
        assert api_client.get("/api/v1/leads/").status_code == 200
    assert redis.llen(key) == 1  # the first went at once; four wait for the next send
    middleware._latency_samples.sent_at -= middleware.LATENCY_FLUSH_SECONDS  # a second on
    api_client.get("/api/v1/leads/")
    assert redis.llen(key) == 6
    assert api_p95_ms() > 0


def test_a_slow_request_is_logged_with_route_workspace_and_sql_count(
    api_client, workspace, settings, caplog
):
    settings.SLOW_REQUEST_MS = 0
    with caplog.at_level(logging.WARNING, logger="leadbrain.slow"):
        api_client.get("/api/v1/leads/?status=new")
    [record] = [r for r in caplog.records if r.name == "leadbrain.slow"]
    assert record.route.startswith("/api/v1/leads")
    assert record.workspace_id == workspace.pk
    assert record.sql_count >= 2  # the key lookup and the list at least
    assert f"workspace={workspace.pk}" in record.getMessage()


def test_a_fast_request_is_not_logged(api_client, settings, caplog):
    settings.SLOW_REQUEST_MS = 60_000
    with caplog.at_level(logging.WARNING, logger="leadbrain.slow"):
        api_client.get("/api/v1/leads/")
    assert not [r for r in caplog.records if r.name == "leadbrain.slow"]


# --- pg_stat_statements ---------------------------------------------------------------------


def _create_extension() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    except DatabaseError as exc:
        pytest.skip(f"pg_stat_statements cannot be created here: {exc}")


def test_the_slow_statements_page_answers_with_or_without_the_preload(admin_client):
    page = admin_client.get(reverse("admin-slow-statements"))
    assert page.status_code == 200
    assert b"extension is not created" in page.content  # and says how
    _create_extension()
    page = admin_client.get(reverse("admin-slow-statements") + "?sort=mean")
    assert page.status_code == 200
    loaded = slow_statements()
    if loaded.problem:  # created, but the server was started without the preload
        assert "shared_preload_libraries" in loaded.problem
        assert loaded.problem.encode() in page.content
    else:
        assert b'id="slow-statements"' in page.content


def test_the_slow_statements_page_is_for_admins_only(client, worlds):
    client.force_login(make_member("mia", worlds[0].workspace, "manager"))
    assert client.get(reverse("admin-slow-statements")).status_code == 403


@pytest.fixture
def preloaded_server():
    """A private PostgreSQL started with pg_stat_statements preloaded (as the postgres
    user: initdb refuses root)."""
    bindir = Path(
        subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    )
    runuser = shutil.which("runuser")
    if not (bindir / "initdb").exists() or not runuser:
        pytest.skip("needs initdb and runuser to start a private PostgreSQL")
    data = Path(tempfile.mkdtemp(prefix="lb-pgss-"))
    shutil.chown(data, "postgres")
    port = closed_port()
    as_pg = [runuser, "-u", "postgres", "--"]
    subprocess.run(
        [*as_pg, bindir / "initdb", "-A", "trust", "-D", data / "db"],
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {data} -c shared_preload_libraries=pg_stat_statements "
        "-c listen_addresses=127.0.0.1"
    )
    subprocess.run(
        [
            *as_pg,
            bindir / "pg_ctl",
            "-D",
            data / "db",
            "-o",
            options,
            "-w",
            "-l",
            data / "log",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield port
    finally:
        subprocess.run(
            [*as_pg, bindir / "pg_ctl", "-D", data / "db", "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)


def test_the_slowest_statements_come_from_a_preloaded_server(preloaded_server):
    with psycopg.connect(
        host="127.0.0.1", port=preloaded_server, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("SELECT pg_sleep(0.05), 'the slow one'")
        with conn.cursor() as cursor:
            result = statements_read(cursor, sort="mean")
    assert result.problem == ""
    [slow] = [row for row in result.rows if "pg_sleep" in row["query"]]
    assert slow["mean_ms"] >= 50 and slow["calls"] == 1
    means = [row["mean_ms"] for row in result.rows]
    assert means == sorted(means, reverse=True)

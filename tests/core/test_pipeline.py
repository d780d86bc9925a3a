import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.pipeline import pipelined
from tests.pgtools import protocol_trace, round_trips

pytestmark = pytest.mark.django_db


def test_statements_sent_together_wait_once_and_each_reads_its_own_rows():
    with transaction.atomic(), protocol_trace(connection) as trace:
        with pipelined() as send:
            one = send("SELECT %s::int", [1])
            many = send("SELECT g FROM generate_series(1, %s) g", [3])
            send("SELECT 'unread'")
        assert one.rows() == [(1,)]
        assert many.rows() == [(1,), (2,), (3,)]
    assert round_trips(trace) == 1


def test_each_statement_runs_after_the_one_before_it():
    """A lock taken by one statement is held when the next one runs (its own snapshot)."""
    with transaction.atomic():
        with pipelined() as send:
            send("SELECT pg_advisory_xact_lock(424242)")
            held = send(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND objid = 424242"
            )
        assert held.rows() == [(1,)]


def test_an_error_is_raised_when_the_pipeline_ends_and_rolls_back_its_transaction():
    with pytest.raises(DatabaseError, match="division by zero"):
        with transaction.atomic():
            with pipelined() as send:
                send("CREATE TEMP TABLE pipelined_t (n int)")
                send("SELECT 1 / 0")
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pipelined_t')")
        assert cursor.fetchone() == (None,)


def test_every_statement_is_seen_by_the_query_log_and_execute_wrappers():
    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as log, connection.execute_wrapper(wrapper):
        with pipelined() as send:
            send("SELECT 1")
            send("SELECT 2", server_binding=True)  # a cursor of its own, wrapped the same
    assert seen == ["SELECT 1", "SELECT 2"]
    assert [q["sql"] for q in log.captured_queries] == ["SELECT 1", "SELECT 2"]


def test_server_binding_sends_the_values_apart_and_postgresql_types_them():
    """A str goes as "unknown": the column's type (jsonb, inet, timestamptz) takes it."""
    with transaction.atomic(), protocol_trace(connection) as trace:
        with pipelined() as send:
            typed = send(
                "SELECT (%s::jsonb -> 'a' ->> 0)::int, %s::inet, %s::timestamptz, %s::bigint",
                ['{"a": [1]}', "10.0.0.1", "2026-12-04T10:00:00+00:00", 2**40],
                server_binding=True,
            )
        [(data, address, at, big)] = typed.rows()
    assert data == 1
    assert str(address) == "10.0.0.1"
    assert at.isoformat().startswith("2026-12-04T10:00:00")
    assert big == 2**40
    parsed = [line for line in trace if "\tParse\t" in line]
    assert "$1" in parsed[0] and "10.0.0.1" not in parsed[0]

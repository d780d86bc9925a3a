"""The health check (core.pgbackend): an idle connection with nothing to read is usable
without a round trip; one the server ended, or one with something to read, is asked."""

import select

import pytest
from django.db import connection

from tests.pgtools import protocol_trace, round_trips, second_connection

# Autocommit between "requests", as a web worker's connection is (not a test transaction).
pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def next_request_checks() -> None:
    """What Django does before the first query of a request."""
    connection.health_check_done = False
    connection.close_if_health_check_failed()


def wait_readable(timeout: float = 10.0) -> None:
    """Until the server's goodbye reached this side's socket (bounded)."""
    poller = select.poll()
    poller.register(connection.connection.pgconn.socket, select.POLLIN)
    assert poller.poll(timeout * 1000), f"nothing came from the server in {timeout} s"


def test_an_idle_open_connection_is_checked_without_a_round_trip():
    first = backend_pid()
    with protocol_trace(connection) as trace:
        next_request_checks()
    assert round_trips(trace) == 0
    assert connection.connection is not None
    assert backend_pid() == first


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it():
    first = backend_pid()
    with second_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [first])
    wait_readable()
    next_request_checks()
    assert backend_pid() != first  # a new connection, and the query worked


def test_a_connection_with_something_to_read_is_asked_and_kept_if_it_answers():
    first = backend_pid()
    with connection.cursor() as cursor:
        cursor.execute("LISTEN pgbackend_test")
    with second_connection() as other:
        other.execute("NOTIFY pgbackend_test")
    wait_readable()
    with protocol_trace(connection) as trace:
        next_request_checks()
    assert round_trips(trace) == 1  # Django's SELECT 1
    assert backend_pid() == first
    with connection.cursor() as cursor:
        cursor.execute("UNLISTEN *")


def test_a_connection_left_in_a_transaction_is_asked():
    connection.ensure_connection()
    connection.connection.execute("BEGIN")
    try:
        with protocol_trace(connection) as trace:
            next_request_checks()
        assert round_trips(trace) == 1
    finally:
        connection.connection.execute("ROLLBACK")

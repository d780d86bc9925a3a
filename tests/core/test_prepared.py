"""Statements prepared once per connection (core.prepared): the PREPARE goes with the first
EXECUTE, idempotently, until a message with it has come back; each EXECUTE runs the
generic plan; nothing of the plan setting outlives the statement."""

import pytest
from django.db import DatabaseError, connection

from core.pipeline import pipelined, pipelined_transaction
from core.prepared import Prepared, generic_plans
from tests.pgtools import protocol_trace, round_trips, simple_queries

# Autocommit between the messages, as a web worker's connection is.
pytestmark = pytest.mark.django_db(transaction=True)

ADD = Prepared("lb_test_add", ("int", "int"), "SELECT $1 + $2")


def plans(name: str) -> tuple[int, int] | None:
    """(generic, custom) plans made for ``name`` on this connection; None if unprepared."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = %s",
            [name],
        )
        row = cursor.fetchone()
    return tuple(row) if row else None


@pytest.fixture(autouse=True)
def fresh_connection():
    connection.close()  # a session without the test's statement
    yield
    connection.close()


def add(a: int, b: int, *, before: str | None = None) -> int:
    with pipelined_transaction() as tx:
        with pipelined(tx, commit=True) as send:
            if before:
                send(before)
            with generic_plans(send):
                total = ADD.send(send, [a, b])
    return total.rows()[0][0]


def test_the_first_message_prepares_and_the_next_ones_only_execute():
    with protocol_trace(connection) as first:
        assert add(1, 2) == 3
    with protocol_trace(connection) as second:
        assert add(40, 2) == 42
    assert round_trips(first) == round_trips(second) == 1  # no round trip of its own
    [sent_first] = simple_queries(first)
    [sent_second] = simple_queries(second)
    assert "PREPARE lb_test_add" in sent_first
    assert "PREPARE" not in sent_second and "EXECUTE lb_test_add (40, 2)" in sent_second
    assert plans("lb_test_add") == (2, 0)  # each EXECUTE ran the generic plan


def test_a_message_that_failed_before_the_prepare_is_followed_by_the_prepare_again():
    """The connection counts as prepared only once a message with the PREPARE came back:
    counting it before would leave every later EXECUTE without a statement."""
    with pytest.raises(DatabaseError, match="division by zero"):
        add(1, 2, before="SELECT 1 / 0")
    assert plans("lb_test_add") is None  # the DO block never ran
    with protocol_trace(connection) as trace:
        assert add(2, 3) == 5
    assert "PREPARE lb_test_add" in simple_queries(trace)[0]


def test_a_message_that_failed_after_the_prepare_is_safe_to_follow():
    """The PREPARE outlived the rolled-back transaction; sending the block again is a no-op."""
    with pytest.raises(DatabaseError, match="division by zero"):
        with pipelined_transaction() as tx:
            with pipelined(tx, commit=True) as send, generic_plans(send):
                ADD.send(send, [1, 2])
                send("SELECT 1 / 0")
    assert plans("lb_test_add") == (1, 0)
    assert add(3, 4) == 7
    assert add(5, 6) == 11


def test_a_statement_dropped_on_the_server_costs_one_failed_message_not_every_one():
    """A pooler's DISCARD ALL, a DEALLOCATE ALL: the EXECUTE that meets it fails, and the
    next message prepares again."""
    assert add(1, 2) == 3
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(DatabaseError, match="lb_test_add"):
        add(2, 3)
    with protocol_trace(connection) as trace:
        assert add(3, 4) == 7
    assert "PREPARE lb_test_add" in simple_queries(trace)[0]


def test_a_new_connection_prepares_again():
    assert add(1, 1) == 2
    connection.close()
    with protocol_trace(connection) as trace:
        assert add(2, 2) == 4
    assert "PREPARE lb_test_add" in simple_queries(trace)[0]


def test_the_generic_plan_setting_ends_with_the_statement():
    """The statements after it in the transaction (a trigger's plans among them) plan as
    the server is set to."""
    with pipelined_transaction() as tx:
        with pipelined(tx, commit=True) as send:
            with generic_plans(send):
                inside = send("SHOW plan_cache_mode")
                ADD.send(send, [1, 2])
            after = send("SHOW plan_cache_mode")
    assert inside.rows() == [("force_generic_plan",)]
    assert after.rows() == [("auto",)]


def test_a_statement_with_a_quote_and_a_percent_sign_prepares():
    quoted = Prepared("lb_test_quote", ("text",), "SELECT $1 || 'it''s 100%'")
    with pipelined_transaction() as tx:
        with pipelined(tx, commit=True) as send:
            said = quoted.send(send, ["so "])
    assert said.rows() == [("so it's 100%",)]


def test_a_statement_without_values():
    it = Prepared("lb_test_constant", (), "SELECT 'x' LIKE 'x%'")
    with pipelined_transaction() as tx:
        with pipelined(tx, commit=True) as send:
            said = it.send(send, [])
    assert said.rows() == [(True,)]


def test_the_wrong_number_of_values_is_refused_before_anything_is_sent():
    with pipelined_transaction() as tx:
        with pipelined(tx) as send:
            with pytest.raises(ValueError, match="lb_test_add takes 2 values, not 1"):
                ADD.send(send, [1])


@pytest.fixture
def growing_table():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE lb_prepared_t (k text NOT NULL, v int NOT NULL)")
        cursor.execute("CREATE INDEX lb_prepared_t_k ON lb_prepared_t (k)")
        cursor.execute("ANALYZE lb_prepared_t")  # known empty, as a partition before its month
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE lb_prepared_t")


def cached_plan(statement: Prepared, params: list) -> str:
    """The generic plan the connection holds for ``statement`` (EXPLAIN of the EXECUTE)."""
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(f"EXPLAIN EXECUTE {statement.name} (%s)", params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
        cursor.execute("RESET plan_cache_mode")
    return plan


def test_a_plan_made_for_an_empty_table_is_made_again_once_it_is_old(growing_table, monkeypatch):
    """A generic plan is kept until PostgreSQL invalidates it (DDL, ANALYZE): a table empty
    at its first run would be read whole, row after row, however much it grew. The
    connection prepares again once the plan is REPLAN_SECONDS old."""
    find = Prepared("lb_test_find", ("text",), "SELECT v FROM lb_prepared_t WHERE k = $1")

    def lookup(key: str) -> list:
        with pipelined_transaction() as tx:
            with pipelined(tx, commit=True) as send, generic_plans(send):
                found = find.send(send, [key])
        return found.rows()

    assert lookup("k1") == []
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO lb_prepared_t SELECT 'k' || n, n FROM generate_series(1, 20000) n"
        )
    assert lookup("k7") == [(7,)]
    assert "Seq Scan" in cached_plan(find, ["k7"])  # the plan of the empty table, kept
    monkeypatch.setattr("core.prepared.REPLAN_SECONDS", 0.0)
    assert lookup("k8") == [(8,)]
    assert "Index Scan" in cached_plan(find, ["k8"])

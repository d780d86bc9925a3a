import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.pipeline import pipelined, pipelined_transaction
from tests.pgtools import protocol_trace, round_trips, second_connection, simple_queries

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


def test_the_block_is_one_query_to_the_query_log_and_execute_wrappers():
    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as log, connection.execute_wrapper(wrapper):
        with pipelined() as send:
            send("SELECT %s", [1])
            send("SELECT 2")
    assert seen == ["SELECT 1; SELECT 2"]
    assert [q["sql"] for q in log.captured_queries] == ["SELECT 1; SELECT 2"]


def test_values_are_quoted_in_and_the_columns_type_them(table):
    """A str goes as an untyped literal: the column's type (jsonb, inet, timestamptz) takes
    it, in every row of a multi-row INSERT; a literal % is written %% as for any cursor."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE pipelined_tx_t ADD data jsonb, ADD address inet, ADD at timestamptz"
        )
    with pipelined() as send:
        send(
            "INSERT INTO pipelined_tx_t VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)",
            ["a", '{"a": [1]}', "10.0.0.1", "2026-12-04T10:00:00+00:00"]
            + ["b'; DROP TABLE pipelined_tx_t; --", "[2]", "::1", "2026-12-04T11:00:00Z"],
        )
        typed = send(
            "SELECT (data -> 'a' ->> 0)::int, address, at FROM pipelined_tx_t WHERE name LIKE 'a%%'"
        )
        odd = send("SELECT name FROM pipelined_tx_t WHERE name LIKE %s", ["b'%"])
    [(data, address, at)] = typed.rows()
    assert data == 1
    assert str(address) == "10.0.0.1"
    assert at.isoformat().startswith("2026-12-04T10:00:00")
    assert odd.rows() == [("b'; DROP TABLE pipelined_tx_t; --",)]


def test_rows_are_read_after_the_block():
    with pytest.raises(RuntimeError, match="after its block"):
        with pipelined() as send:
            send("SELECT 1").rows()


def _committed_names() -> list[str]:
    """What another connection sees in pipelined_tx_t (only committed rows)."""
    with second_connection() as other:
        return [name for (name,) in other.execute("SELECT name FROM pipelined_tx_t ORDER BY 1")]


@pytest.fixture
def table(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE pipelined_tx_t (name text PRIMARY KEY)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE pipelined_tx_t")


def test_a_transaction_of_its_own_sends_begin_with_the_reads_and_commit_with_the_writes(table):
    done: list[str] = []
    with protocol_trace(connection) as trace:
        with pipelined_transaction() as tx:
            with pipelined(tx) as send:
                count = send("SELECT count(*) FROM pipelined_tx_t")
            [(n,)] = count.rows()
            with pipelined(tx, commit=True) as send:
                send("INSERT INTO pipelined_tx_t VALUES (%s)", [f"row {n}"])
            tx.on_commit(lambda: done.append("after commit"))
            assert done == []  # not before the block ends
    assert done == ["after commit"]
    assert simple_queries(trace) == [
        "BEGIN; SELECT count(*) FROM pipelined_tx_t",
        "INSERT INTO pipelined_tx_t VALUES ('row 0'); COMMIT",
    ]
    assert round_trips(trace) == 2
    assert _committed_names() == ["row 0"]
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_failed_write_rolls_the_whole_transaction_back_and_runs_nothing_after_it(table):
    done: list[str] = []
    with pytest.raises(DatabaseError, match="duplicate key"):
        with pipelined_transaction() as tx:
            with pipelined(tx) as send:
                send("INSERT INTO pipelined_tx_t VALUES ('first')")
            tx.on_commit(lambda: done.append("after commit"))
            with pipelined(tx, commit=True) as send:
                send("INSERT INTO pipelined_tx_t VALUES ('second')")
                send("INSERT INTO pipelined_tx_t VALUES ('second')")
    assert done == []
    assert _committed_names() == []
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with connection.cursor() as cursor:  # the connection goes on
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_an_exception_between_the_round_trips_rolls_back(table):
    with pytest.raises(RuntimeError, match="between"):
        with pipelined_transaction() as tx:
            with pipelined(tx) as send:
                send("INSERT INTO pipelined_tx_t VALUES ('read then failed')")
            raise RuntimeError("between the reads and the writes")
    assert _committed_names() == []
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_block_without_a_commit_pipeline_commits_at_its_end(table):
    """As after a COPY, which a pipeline cannot carry."""
    with pipelined_transaction() as tx:
        with pipelined(tx) as send:
            send("INSERT INTO pipelined_tx_t VALUES ('piped')")
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO pipelined_tx_t VALUES ('alone')")
        assert _committed_names() == []  # one transaction, not yet committed
    assert _committed_names() == ["alone", "piped"]


def test_inside_an_atomic_block_it_is_a_savepoint_of_the_callers_transaction(table):
    done: list[str] = []
    with pytest.raises(RuntimeError, match="caller"):
        with transaction.atomic():
            with pipelined_transaction() as tx:
                with pipelined(tx, commit=True) as send:
                    send("INSERT INTO pipelined_tx_t VALUES ('inner')")
                tx.on_commit(lambda: done.append("after commit"))
            assert done == []
            raise RuntimeError("the caller fails after it")
    assert done == []
    assert _committed_names() == []

"""core.sql_literals: the values it writes read back the same, with psycopg's types."""

from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from django.db import connection

from core.pipeline import pipelined
from core.sql_literals import Unsupported, literal, statement_text
from leads.intake import lead_ingest_batch
from leads.models import Lead

NASTY = [
    "",
    "it's",
    "''",
    "a\\b",
    "\\'",
    "'; DROP TABLE leads_lead; --",
    "%s",
    "%%",
    "%(name)s",
    "José ☃ 😀",
    "line\nbreak\r\ttab",
    "$$dollar$$",
    'double "quotes"',
    "E'x'",
]
ELEMENTS = [*NASTY, "{x,y}", "NULL", "null", " spaced ", ",", "{", "}", '"', "\\"]


def read_back(sql: str) -> tuple[object, str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT v, pg_typeof(v)::text FROM (SELECT {sql} AS v) t")
        return cursor.fetchone()


def psycopg_text(value: object) -> str:
    with connection.cursor() as cursor:
        return cursor.cursor.mogrify("%s", [value])


VALUES = [
    None,
    True,
    False,
    0,
    7,
    -1,
    2**63 - 1,
    -(2**63),
    *NASTY,
    datetime(2026, 12, 5, 15, 4, 42, 410098, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    [5],
    [1, -32768],
    [70_000, 1],
    [-32768, 32768],  # the widest is the positive one: int4
    [-(2**31), 2**31],
    [1, -2, 2**62],
    [-(2**63), 2**63 - 1],
    ELEMENTS,
    ["+14155550100"],
    [],
    # NULL elements (a routing pass's destinations, rules and routed times)
    [1, None],
    [None, 70_000],
    ["a", None, "it's"],
    [None, "b"],
    [datetime(2026, 12, 5, 15, 4, 42, 410098, tzinfo=UTC), None],
    [None, datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))],
]


def in_context(sql: str, value: object) -> str:
    """A list of strings is written untyped, as psycopg writes it: its statement gives the
    type (here a cast)."""
    present = [v for v in value if v is not None] if isinstance(value, list) else []
    strings = bool(present) and isinstance(present[0], str)
    return f"{sql}::text[]" if strings else sql


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_literal_reads_back_as_its_value_with_psycopgs_type(db, value):
    ours = read_back(in_context(literal(value), value))
    assert ours == read_back(in_context(psycopg_text(value), value))  # value and type
    if value != []:  # an untyped '{}' reads back as text
        assert ours[0] == value


@pytest.mark.parametrize(
    "value",
    [
        "nul\x00byte",
        "lone \ud800 surrogate",
        datetime(2026, 12, 5, 15, 0),  # naive: psycopg's timestamp
        2**63,
        -(2**63) - 1,
        [1, "a"],
        [True],
        ["a\x00"],
        [None, None],  # all NULL: psycopg picks the type
        [1, None, "a"],
        [datetime(2026, 12, 5, 15, 0), None],  # naive
        1.5,
        {"a": 1},
        (1, 2),
    ],
    ids=repr,
)
def test_what_it_does_not_know_is_left_to_psycopg(value):
    with pytest.raises(Unsupported):
        literal(value)


def test_a_choice_and_a_negative_number_are_written_as_psycopg_would(db):
    from leads.models import Suppression

    assert read_back(literal(Suppression.Kind.PHONE)) == read_back(
        psycopg_text(Suppression.Kind.PHONE)
    )
    assert read_back(statement_text("1-%s", [-1], True)) == (2, "integer")  # not a comment


def test_a_statement_is_written_only_when_its_placeholders_are_plain():
    assert statement_text("SELECT %s, '100%%'", [5], True) == "SELECT 5, '100%'"
    assert statement_text("SELECT '100%%'", [], True) == "SELECT '100%'"
    for sql, params in [
        ("SELECT %(a)s", [1]),  # named
        ("SELECT %d", [1]),  # not psycopg's
        ("SELECT %r", [1]),
        ("SELECT %s, %s", [1]),  # too few values
        ("SELECT %s", [1, 2]),  # too many
        ("SELECT %s", []),
        ("SELECT %s", {"a": 1}),
    ]:
        with pytest.raises(Unsupported):
            statement_text(sql, params, True)
    with pytest.raises(Unsupported):  # backslashes would be escapes
        statement_text("SELECT %s", ["a"], False)


def test_a_pipelined_message_falls_back_to_psycopg_for_what_it_does_not_know(db, monkeypatch):
    written = []
    mogrify = psycopg.ClientCursor.mogrify

    def counted(self, query, params=None):
        written.append(query)
        return mogrify(self, query, params)

    monkeypatch.setattr(psycopg.ClientCursor, "mogrify", counted)
    with pipelined() as send:
        mixed = send("SELECT %s::numeric, %s", [1.5, "it's"])
        percent = send("SELECT '100%%', %s::text", [None])
    assert mixed.rows() == [(pytest.approx(1.5), "it's")]
    assert percent.rows() == [("100%", None)]
    assert written == ["SELECT %s::numeric, %s"]  # the float's statement only
    with pytest.raises(psycopg.DataError), pipelined() as send:
        send("SELECT %s", ["nul\x00byte"])  # refused as before, by psycopg


def test_a_single_lead_batch_is_written_without_psycopgs_adapters(db, workspace, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("psycopg wrote a literal")

    monkeypatch.setattr(psycopg.ClientCursor, "mogrify", refuse)
    [result] = lead_ingest_batch(
        workspace=workspace,
        rows=[{"first_name": "Zoë", "last_name": "O'Brien", "phone": "+14155550100"}],
    )
    lead = Lead.objects.get(pk=result.id)
    assert (lead.first_name, lead.last_name, lead.phone) == ("Zoë", "O'Brien", "+14155550100")
    assert lead.status == "pending"


def test_a_routing_pass_is_written_without_psycopgs_adapters(
    db, workspace, partner_workspace, monkeypatch
):
    """Every statement of a pass (claim, locks, counters, rotation, leads, routing log with
    its float durations, history, retry items) is written by ``core.sql_literals``."""
    from routing.models import RoutingLog
    from routing.services import route_pending
    from tests.routing.factories import make_leads, make_rule

    make_rule(
        "round robin",
        distribution="round_robin",
        destinations=[
            {"workspace": workspace, "cap_per_hour": 100},
            {"workspace": partner_workspace, "cap_per_day": 100},
        ],
    )
    ids = make_leads(workspace, 4)

    def refuse(*args, **kwargs):
        raise AssertionError("psycopg wrote a literal")

    monkeypatch.setattr(psycopg.ClientCursor, "mogrify", refuse)
    assert route_pending(worker_id="test").routed == 4
    logs = RoutingLog.objects.filter(lead_id__in=ids)
    assert logs.count() == 4
    assert all(log.duration_ms >= 0 for log in logs)

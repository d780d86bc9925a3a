from datetime import UTC, datetime, time

import pytest

from routing.engine import Destination, compile_rule, evaluate, weighted_sequence
from routing.models import RoutingRule, RuleCondition
from routing.patterns import MAX_TEXT_CHARS

NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # a Monday
LEAD = {
    "state": "CA",
    "industry": "Solar",
    "source": "fb",
    "custom": {"score": "72"},
    "email": "",
    "timezone": "America/New_York",
    "workspace_id": 1,
}


def cond(field, operator, value=""):
    """A condition compiled by the engine (so its choice of regex library is tested)."""
    stored = RuleCondition(field=field, operator=operator, value=value)
    return compile_rule(RoutingRule(name="t"), [stored], [], []).conditions[0]


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("state", "eq", "ca", True),
        ("state", "ne", "CA", False),
        ("state", "in", "NY, CA ,TX", True),
        ("state", "not_in", "NY,TX", True),
        ("industry", "contains", "ola", True),
        ("industry", "startswith", "sol", True),
        ("custom.score", "gt", "70", True),
        ("custom.score", "lt", "70", False),
        ("custom.missing", "gt", "1", False),
        ("email", "empty", "", True),
        ("custom.missing", "empty", "", True),
        ("state", "regex", r"^C[AO]$", True),
        ("timezone", "local_time", "09:00-17:00", True),  # 10:30 in New York
        ("timezone", "local_time", "11:00-17:00", False),
        ("timezone", "local_time", "22:00-11:00", True),  # overnight window
    ],
)
def test_operators(field, op, value, expected):
    assert evaluate(cond(field, op, value), LEAD, NOW) is expected


def test_weighted_sequence_is_smooth_and_exact():
    dests = tuple(
        Destination(i, i, f"d{i}", False, None, None, w, None, None, "UTC", "0123456", None, None)
        for i, w in enumerate([3, 1])
    )
    seq = weighted_sequence(dests)
    assert sorted(seq) == [0, 0, 0, 1]
    assert seq.count(1) == 1 and seq[0] == 0


def test_schedule_and_local_period_starts():
    d = Destination(
        1, 1, "x", False, None, None, 1, None, 10, "America/Los_Angeles", "01234", time(9), time(17)
    )
    assert d.is_open(NOW) is False  # 07:30 in Los Angeles
    assert d.is_open(datetime(2026, 11, 23, 18, tzinfo=UTC)) is True  # 10:00 there
    assert d.is_open(datetime(2026, 11, 22, 18, tzinfo=UTC)) is False  # Sunday
    starts = d.period_starts(datetime(2026, 11, 23, 7, 30, tzinfo=UTC))  # 23:30 on the 22nd
    assert starts["d"] == datetime(2026, 11, 22, 8, tzinfo=UTC)  # local midnight (PST)


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"field": "state", "operator": "regex", "value": "([a-z"}, "value"),
        ({"field": "state", "operator": "regex", "value": r"(a)\1"}, "value"),  # not RE2
        ({"field": "state", "operator": "regex", "value": "(?=C)CA"}, "value"),
        ({"field": "state", "operator": "regex", "value": "((a{100}){100}){100}"}, "value"),
        ({"field": "nonsense", "operator": "eq", "value": "x"}, "field"),
        ({"field": "state", "operator": "local_time", "value": "9-5"}, "value"),
        ({"field": "custom.score", "operator": "gt", "value": "high"}, "value"),
        ({"field": "state", "operator": "eq", "value": ""}, "value"),
    ],
)
def test_condition_validation(fields, error_field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        RuleCondition(**fields).clean()
    assert error_field in info.value.message_dict


def test_a_catastrophic_pattern_finishes_fast():
    """``(a+)+$`` backtracks exponentially in Python's ``re``; RE2 is linear."""
    import time

    condition = cond("industry", "regex", "(a+)+$")
    started = time.perf_counter()
    # 40 a's and a '!': Python's re would take minutes; RE2 answers at once.
    assert evaluate(condition, {**LEAD, "industry": "a" * 40 + "!"}, NOW) is False
    evaluate(condition, {**LEAD, "industry": "a" * 5000 + "!"}, NOW)
    assert time.perf_counter() - started < 0.5


def test_only_the_first_chars_of_a_field_are_matched():
    tail = cond("industry", "regex", "needle")
    padded = {**LEAD, "industry": "x" * MAX_TEXT_CHARS + "needle"}
    assert evaluate(tail, padded, NOW) is False
    assert evaluate(tail, {**LEAD, "industry": "x" * (MAX_TEXT_CHARS - 6) + "needle"}, NOW)


def test_the_regex_refusal_names_re2():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        RuleCondition(field="state", operator="regex", value=r"(a)\1").clean()
    assert "RE2" in info.value.message_dict["value"][0]


def test_a_stored_pattern_re2_refuses_never_matches():
    """Saved before RE2 (no validation then): the rule compiles, the condition is false."""
    condition = cond("state", "regex", "(?=C)CA")
    assert condition.regex is None
    assert evaluate(condition, LEAD, NOW) is False

"""Apps own their tables: SQL text in one app never writes another app's tables, and never
reads the tables of an app above it (reads of lower layers' tables, for a join, are fine).

The SQL is found in every string literal of an app's modules (f-string parts included),
so a raw statement cannot slip past the ORM-level import contract.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The layers of pyproject.toml's import-linter contract, lowest first.
LAYERS = {"core": 0, "leads": 1, "dialer": 2, "broadcast": 2, "routing": 3, "calllogs": 3}
APP = "|".join(LAYERS)
WRITE = re.compile(
    rf"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE|COPY)\s+\"?({APP})_\w+", re.IGNORECASE
)
READ = re.compile(rf"\b(?:FROM|JOIN)\s+\"?({APP})_\w+", re.IGNORECASE)


def string_literals(source: str) -> list[str]:
    tree = ast.parse(source)
    inside_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    texts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # an f-string: its literal parts, joined
            texts.append(" ".join(v.value for v in node.values if isinstance(v, ast.Constant)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in inside_fstrings:
                texts.append(node.value)
    return texts


def violations(app: str, source: str) -> list[str]:
    found = []
    for text in string_literals(source):
        for match in WRITE.finditer(text):
            if match.group(1).lower() != app:
                found.append(f"writes {match.group(0)!r}")
        for match in READ.finditer(text):
            other = match.group(1).lower()
            if other != app and LAYERS[other] >= LAYERS[app]:
                found.append(f"reads {match.group(0)!r} (not a lower layer)")
    return found


def app_modules(app: str) -> list[Path]:
    return [p for p in sorted((ROOT / app).rglob("*.py")) if "migrations" not in p.parts]


@pytest.mark.parametrize("app", sorted(LAYERS))
def test_app_sql_touches_only_what_it_may(app):
    problems = {
        str(path.relative_to(ROOT)): found
        for path in app_modules(app)
        if (found := violations(app, path.read_text()))
    }
    assert problems == {}


def test_the_check_catches_each_kind_of_trespass():
    source = """
X = "UPDATE leads_lead SET status = 'x'"
Y = f"INSERT INTO leads_leadevent (lead_id) SELECT {1}"
Z = "DELETE FROM dialer_outboxitem WHERE id = 1"
R = "SELECT 1 FROM routing_retryitem"
S = "SELECT id FROM broadcast_message m JOIN calllogs_calllog c ON true"
OK = "SELECT l.id FROM leads_lead l JOIN dialer_outboxitem o ON o.lead_id = l.id"
"""
    found = violations("dialer", source)
    assert found == [
        "writes 'UPDATE leads_lead'",
        "writes 'INSERT INTO leads_leadevent'",
        "reads 'FROM routing_retryitem' (not a lower layer)",
        "reads 'FROM broadcast_message' (not a lower layer)",
        "reads 'JOIN calllogs_calllog' (not a lower layer)",
    ]
    assert violations("routing", source)[-1] == "reads 'JOIN calllogs_calllog' (not a lower layer)"

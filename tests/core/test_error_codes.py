"""Error codes are listed in one place per app: ``core.errors`` holds the shared ones and
core's own, ``<app>.errors`` an app's own (and the shared ones it answers with). Code that
raises or answers an error names a constant from there, never a string of its own.

A ``ValidationError``'s code is a field's (the answer's code is then ``invalid``, the field
codes are inside ``errors``), so forms and serializers keep theirs."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ["core", "leads", "routing", "dialer", "calllogs", "broadcast"]


def _literal(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def literal_codes(source: str) -> list[tuple[int, str]]:
    """(line, code) of every error code written as a string: ``code="..."`` (an error's
    argument), ``code = "..."`` (an error class), ``error_body("...")``, ``_error(status,
    "...")`` and ``{"code": "..."}``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name.endswith("ValidationError"):
                continue
            for keyword in node.keywords:
                if keyword.arg == "code" and _literal(keyword.value):
                    found.append((node.lineno, keyword.value.value))
            if name == "error_body" and node.args and _literal(node.args[0]):
                found.append((node.lineno, node.args[0].value))
            if name == "_error" and len(node.args) > 1 and _literal(node.args[1]):
                found.append((node.lineno, node.args[1].value))
        elif isinstance(node, ast.Assign) and _literal(node.value):
            if any(getattr(t, "id", "") == "code" for t in node.targets):
                found.append((node.lineno, node.value.value))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if _literal(key) and key.value == "code" and _literal(value):
                    found.append((node.lineno, value.value))
    return found


def _modules(app: str) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts and path.name != "errors.py"
    ]


@pytest.mark.parametrize("app", APPS)
def test_error_codes_come_from_the_errors_modules(app):
    written = [
        f"{path.relative_to(ROOT)}:{line}: {code!r}"
        for path in _modules(app)
        for line, code in literal_codes(path.read_text())
    ]
    assert written == [], f"name a constant of {app}.errors instead"


def test_the_check_sees_each_way_of_writing_a_code():
    source = (
        "raise ApplicationError('x', code='a')\n"
        "class E(ApplicationError):\n    code = 'b'\n"
        "error_body('c', 'x')\n"
        "_error(403, 'd', 'x')\n"
        "body = {'code': 'e'}\n"
        "raise ApplicationError('x', code=errors.F)\n"
        "phone(phone_code='1')\n"
        "raise forms.ValidationError('x', code='required')\n"
    )
    assert [code for _, code in literal_codes(source)] == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("app", APPS)
def test_an_apps_codes_are_distinct(app):
    module = importlib.import_module(f"{app}.errors")
    codes = {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str)
    }
    assert codes, f"{app}.errors lists no code"
    assert len(set(codes.values())) == len(codes), codes

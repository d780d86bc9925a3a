"""A machine without MariaDB: only the tests that read a Vici database are skipped, each
with the reason in pytest's summary; the webhook tests (and every other test) still run."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.calllogs.mariadb import mariadb_unavailable, mariadb_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def closed_port():
    """A local port that refuses connections (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def test_the_decision_names_why_there_is_no_mariadb(closed_port):
    reason = mariadb_unavailable(f"mysql://root@127.0.0.1:{closed_port}/")
    assert f"no MariaDB answers at 127.0.0.1:{closed_port}" in reason
    assert "found no MariaDB" in mariadb_unavailable("")


@pytest.mark.needs_mariadb
def test_the_decision_accepts_a_mariadb_that_answers():
    assert mariadb_unavailable(mariadb_url()) is None


def test_without_mariadb_only_the_vici_database_tests_are_skipped(closed_port):
    env = {
        **os.environ,
        "MARIADB_URL": f"mysql://root@127.0.0.1:{closed_port}/",
        "TEST_DATABASE_NAME": f"{settings.DATABASES['default']['TEST']['NAME']}_nomaria",
    }
    tests = [
        "tests/calllogs/test_calllogs.py::test_hourly_sync_reads_the_vici_database",
        "tests/calllogs/test_calllogs.py::test_webhook_with_real_query_string",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "1 passed, 1 skipped" in out, out
    assert f"needs MariaDB: no MariaDB answers at 127.0.0.1:{closed_port}" in out, out


def services_script():
    spec = importlib.util.spec_from_file_location("services_script", ROOT / "scripts/services.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("answering", "installed", "root", "apt", "plan"),
    [
        (True, True, True, True, "use"),
        (False, True, False, False, "start"),
        (False, False, True, True, "install"),
        (False, False, False, True, "none"),
        (False, False, True, False, "none"),
    ],
)
def test_make_services_installs_mariadb_only_when_it_can(answering, installed, root, apt, plan):
    decide = services_script().mariadb_plan
    assert decide(answering=answering, installed=installed, root=root, apt=apt) == plan

"""Production never loads the simulators: the settings, the URLs, the WSGI app and the
Celery app with every task module come up in a fresh interpreter without importing them
(the import-linter contract checks the source; this checks what really gets loaded)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
import config.urls
from config.celery import app
app.loader.import_default_modules()
from django.urls import get_resolver
get_resolver().url_patterns
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "simulators")
print("LOADED:" + ",".join(loaded))
"""


def test_settings_urls_wsgi_and_tasks_do_not_load_the_simulators():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LOADED:\n" in done.stdout


def test_the_probe_sees_a_loaded_simulator():
    """The check itself works: an import of the package shows up."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    probe = PROBE.replace("import sys\n", "import sys\nimport simulators.vicidial\n", 1)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "LOADED:simulators," in done.stdout, done.stderr[-2000:]

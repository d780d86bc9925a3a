"""The production path runs: web, worker and beat from the runtime requirements alone.

1. A venv from ``scripts/requirements.py`` without extras (what the Dockerfile installs),
   kept under ``.run/prodvenv`` and rebuilt only when those requirements or the Python
   change (their SHA-256 is stored in the venv).
2. A fresh database (``<DATABASE_URL's name>_prodsmoke``), migrated, schedules upserted,
   a workspace, an API key and a routing rule that takes every lead.
3. gunicorn, a Celery worker on every queue and Celery beat, all from that venv.
4. One lead posted with the key; bounded waits until the rule routed it (intake's signal ->
   the routing task on the worker) and until beat sent a task the worker ran.
5. Everything stopped, the smoke's Celery messages purged, the database dropped.

Only the standard library here: the checks must not borrow anything from the dev venv.
Exit status 0 when every step passed; otherwise the processes' log tails are printed.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
VENV = RUN / "prodvenv"
LOGS = RUN / "prodsmoke"
QUEUES = "default,intake,routing,dialer,calllogs,broadcast"
WAIT_SECONDS = 90
BEAT_TASK = "routing.tasks.retry_drain_task"  # every minute; run at once when overdue
BEAT_RAN = re.compile(rf"Task {re.escape(BEAT_TASK)}\[[^\]]+\] succeeded")

SETUP = """
import datetime, json
from django_celery_beat.models import PeriodicTask
from leads.services import api_key_create, workspace_create
from routing.services import rule_save
workspace = workspace_create(name="Smoke")
_, raw = api_key_create(workspace=workspace, name="smoke")
rule_save(rule=None, data={"name": "smoke: every lead", "priority": 1}, conditions=[],
          destinations=[{"workspace": workspace}], workspaces=None)
# Overdue, so beat sends it as soon as it starts (not a minute later).
PeriodicTask.objects.filter(task=__BEAT_TASK__).update(
    last_run_at=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))
print(json.dumps({"key": raw}))
""".replace("__BEAT_TASK__", repr(BEAT_TASK))


def log(message: str) -> None:
    print(f"prod-smoke: {message}", flush=True)


def read_env_file() -> dict[str, str]:
    path = RUN / "env"
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def setting(name: str, default: str = "") -> str:
    return os.environ.get(name) or read_env_file().get(name) or default


def requirements() -> str:
    out = subprocess.run(
        [sys.executable, "scripts/requirements.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def ensure_venv() -> Path:
    """The runtime-only venv, reused while the requirements and the Python are the same."""
    reqs = requirements()
    digest = hashlib.sha256(f"{sys.version}\n{reqs}".encode()).hexdigest()
    marker = VENV / ".requirements-sha256"
    if marker.exists() and marker.read_text() == digest:
        log(f"reusing {VENV.relative_to(ROOT)} (requirements unchanged)")
        return VENV / "bin"
    log(f"building {VENV.relative_to(ROOT)} from the runtime requirements only")
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    (VENV / "requirements.txt").write_text(reqs)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-r", str(VENV / "requirements.txt")], check=True)
    marker.write_text(digest)
    return VENV / "bin"


def database_urls() -> tuple[str, str]:
    """(the smoke database's URL, the server's maintenance database URL)."""
    base = urlsplit(setting("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadbrain"))
    name = (base.path.lstrip("/") or "leadbrain") + "_prodsmoke"
    smoke = urlunsplit(base._replace(path=f"/{name}"))
    admin = urlunsplit(base._replace(scheme="postgresql", path="/postgres"))
    return smoke, admin


def recreate_database(bin_dir: Path, admin_url: str, name: str, *, create: bool) -> None:
    code = (
        "import sys, psycopg\n"
        "from psycopg import sql\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as c:\n"
        "    c.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)')"
        ".format(sql.Identifier(sys.argv[2])))\n"
        "    if sys.argv[3] == '1':\n"
        "        c.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(sys.argv[2])))\n"
    )
    subprocess.run(
        [str(bin_dir / "python"), "-c", code, admin_url, name, "1" if create else "0"],
        check=True,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Api-Key {key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError as exc:  # refused, reset or timed out: no answer
        return 0, {"error": repr(exc)}


def wait_for(what: str, check, procs: dict[str, subprocess.Popen]) -> None:
    """Poll ``check`` until it is true; fail at once when a process died, or at the bound."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        dead = [name for name, proc in procs.items() if proc.poll() is not None]
        if dead:
            raise SmokeFailed(f"{', '.join(dead)} stopped while waiting for {what}")
        if check():
            log(f"ok: {what}")
            return
        time.sleep(0.25)
    raise SmokeFailed(f"timed out after {WAIT_SECONDS}s waiting for {what}")


class SmokeFailed(Exception):
    pass


def start(bin_dir: Path, env: dict[str, str], port: int) -> dict[str, subprocess.Popen]:
    LOGS.mkdir(parents=True, exist_ok=True)
    commands = {
        "web": [str(bin_dir / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}"],
        "worker": [
            *[str(bin_dir / "celery"), "-A", "config", "worker", "-Q", QUEUES],
            *["--concurrency", "1", "-l", "info", "--without-mingle", "--without-gossip"],
        ],
        "beat": [str(bin_dir / "celery"), "-A", "config", "beat", "-l", "info"],
    }
    procs = {}
    for name, command in commands.items():
        out = (LOGS / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return procs


def stop(procs: dict[str, subprocess.Popen]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def exercise(bin_dir: Path, env: dict[str, str]) -> None:
    manage = [str(bin_dir / "python"), "manage.py"]
    for command in (["migrate", "--noinput", "-v0"], ["setup_schedules"]):
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, stdout=sys.stdout)
    out = subprocess.run(
        [*manage, "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True
    )
    key = json.loads(out.stdout.decode().strip().splitlines()[-1])["key"]
    port = free_port()
    procs = start(bin_dir, env, port)
    try:
        wait_for("web answers", lambda: answers(port), procs)
        base = f"http://127.0.0.1:{port}/api/v1/leads/"
        wait_for("the API answers the key", lambda: http("GET", base, key)[0] == 200, procs)
        code, body = http("POST", base, key, {"phone": "+1 415 555 0142", "first_name": "Smoke"})
        if code != 201:
            raise SmokeFailed(f"posting a lead answered {code}: {body}")
        lead_url = f"{base}{body['id']}/"
        wait_for(
            "the lead routed by the rule",
            lambda: http("GET", lead_url, key)[1].get("status") == "routed",
            procs,
        )
        worker_log = LOGS / "worker.log"
        wait_for(
            "a task sent by beat run by the worker",
            lambda: BEAT_RAN.search(worker_log.read_text()) is not None,
            procs,
        )
    except BaseException:
        for name in procs:
            tail = (LOGS / f"{name}.log").read_text().splitlines()[-30:]
            print(f"--- {name} (last lines) ---\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        stop(procs)
        subprocess.run(
            [str(bin_dir / "celery"), "-A", "config", "purge", "-f", "-Q", QUEUES],
            cwd=ROOT,
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )


def main() -> int:
    started = time.monotonic()
    bin_dir = ensure_venv()
    smoke_url, admin_url = database_urls()
    name = urlsplit(smoke_url).path.lstrip("/")
    recreate_database(bin_dir, admin_url, name, create=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": smoke_url,
        "REDIS_URL": setting("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CACHE_KEY_PREFIX": "lbsmoke",
        "SECRET_KEY": "prod-smoke-" + "x" * 50,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "2",
    }
    if setting("CELERY_BROKER_URL"):
        env["CELERY_BROKER_URL"] = setting("CELERY_BROKER_URL")
    try:
        exercise(bin_dir, env)
    except (SmokeFailed, subprocess.CalledProcessError) as exc:
        log(f"FAILED: {exc}")
        return 1
    finally:
        recreate_database(bin_dir, admin_url, name, create=False)
    log(f"passed in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

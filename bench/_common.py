"""Shared setup for the benchmarks: a separate database, migrated, Django ready."""

import cProfile
import io
import os
import pstats
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(db_name: str) -> dict:
    env = dict(os.environ)
    base = env.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")
    env["DATABASE_URL"] = f"{base}/{db_name}"
    env["LEADBRAIN_DB_NAME"] = db_name
    os.environ.update(env)
    run_env = ROOT / ".run" / "env"
    kept = run_env.read_text() if run_env.exists() else None
    subprocess.run(
        [sys.executable, "scripts/services.py"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if kept is not None:  # the services script records the bench database; keep the dev one
        run_env.write_text(kept)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(env: dict, workers: int = 2) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def backend_cpu_clock(connection) -> Callable[[], float]:
    """A clock of the CPU seconds (user + system) that PostgreSQL's backend of Django's
    ``connection`` has used so far, read from /proc (the server runs on this machine)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    def clock() -> float:
        fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    return clock


def profile_print(profiler: cProfile.Profile, dump_to: str = "") -> None:
    """The top 45 functions by cumulative time; the whole profile to ``dump_to`` if given."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
    print(out.getvalue())
    if dump_to:
        profiler.dump_stats(dump_to)


def tables_emptied(connection, tables: list[str]) -> None:
    """TRUNCATE ``tables``, then ANALYZE them: the planner of an emptied table left with
    the statistics of its full self would not use the dedupe index."""
    names = ", ".join(tables)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {names}")
        cursor.execute(f"ANALYZE {names}")

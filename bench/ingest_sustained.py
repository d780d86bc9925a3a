"""Sustained single-lead intake with routing keeping up, beside a bare DRF create.

    .venv/bin/python bench/ingest_sustained.py [--seconds 300] [--rounds 2] [--clients 50]

Runs, in alternating rounds, wrk (50 closed-loop connections, one lead per POST, unique
phones) against (a) a bare Django + DRF ``ModelViewSet`` create (bench/bare, persistent
connections) and (b) Leadbrain's ``POST /api/v1/leads/`` with a routing worker running,
both under the project's gunicorn.conf.py. For Leadbrain it prints the rate, latency, how
long the pending backlog and the queued routing work take to reach zero after the load
stops, and the CPU per lead of the web processes, the routing worker and PostgreSQL. Then a
paced phase (200 leads/s from 50 clients): request latency and decision latency (intake
commit to routed).
"""

import argparse
import os
import runpy
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from _autovacuum import Beat, Vacuum
from _common import ROOT, free_port, percentile, setup, tables_emptied
from _wrk import wrk

BIN = Path(sys.executable).parent
HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / HZ


def host_ticks() -> tuple[float, float]:
    """The machine's stolen CPU time (the hypervisor ran someone else on our CPUs) and all
    its CPU time so far, as psutil reads them (/proc/stat; guest time is inside user's)."""
    times = psutil.cpu_times()
    return times.steal, times.user + times.nice + times.system + times.idle + times.iowait + (
        times.irq + times.softirq + times.steal
    )


def probe_ms() -> float:
    """A fixed piece of Python arithmetic, timed on the idle machine before a run: this
    VM's speed drifts (2-3x between sessions, tens of percent within one), and a slow
    round beside a slow probe is the machine, not the code."""
    started = time.perf_counter()
    total = 0
    for n in range(2_000_000):
        total += n
    return (time.perf_counter() - started) * 1000


def stolen(before: tuple[int, int], after: tuple[int, int]) -> str:
    return f"{(after[0] - before[0]) / max(1, after[1] - before[1]):.0%}"


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True)
    children: dict[int, list[int]] = {}
    for line in out.stdout.split("\n"):
        if line.strip():
            child, parent = (int(x) for x in line.split())
            children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def gunicorn(env: dict, app: str, cwd: Path, port: int, procs: list) -> subprocess.Popen:
    """The project's gunicorn.conf.py for Leadbrain; the same worker model, processes and
    threads (read from that file, under the same environment) as flags for the bare
    reference (its settings are not the project's)."""
    if app.startswith("config."):
        config = ["-c", str(ROOT / "gunicorn.conf.py")]
    else:
        project = project_gunicorn(env)
        # gunicorn's gthread: the project's worker class is gthread plus parking after a
        # refusal (core.parking), which the bare app neither has nor needs.
        config = ["-k", "gthread", "-w", str(project["workers"])]
        config += ["--threads", str(project["threads"]), "--keep-alive", "30"]
        config += ["--reuse-port"] if project["reuse_port"] else []
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), app, *config, "-b", f"127.0.0.1:{port}"]
        + ["--log-level", "warning", "--access-logfile", "/dev/null", "--no-control-socket"],
        cwd=cwd,
        env=env,
    )
    procs.append(proc)
    wait_port(port)
    return proc


def project_gunicorn(env: dict) -> dict:
    """gunicorn.conf.py's settings as that file computes them under ``env``."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def connection_split(port: int, pids: list[int]) -> str:
    """How many of the load's connections each web process holds ("31/19"): a process is
    one interpreter, so one holding most of them can be the bottleneck while the other
    idles."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", "sport", "=", f":{port}"],
        capture_output=True,
        text=True,
    )
    held = {pid: out.stdout.count(f"pid={pid},") for pid in pids}
    return "/".join(str(n) for n in sorted(held.values(), reverse=True) if n)


def split_later(port: int, pids: list[int], after: float) -> dict[str, str]:
    """The connection split, read ``after`` seconds from now (wrk keeps its connections
    open for the whole run), in the returned dict's "split" once read."""
    found = {"split": "-"}

    def read() -> None:
        found["split"] = connection_split(port, pids)

    timer = threading.Timer(after, read)
    timer.daemon = True
    timer.start()
    return found


def pending(cursor) -> int:
    cursor.execute("SELECT count(*) FROM leads_lead WHERE status = 'pending'")
    return cursor.fetchone()[0]


def routing_queue_depth(redis_url: str) -> int:
    import redis

    return int(redis.Redis.from_url(redis_url).llen("routing"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--paced-rate", type=float, default=200.0)
    parser.add_argument("--paced-seconds", type=float, default=30.0)
    parser.add_argument(
        "--paced-arrivals",
        choices=["exponential", "fixed"],
        default="exponential",
        help="each paced connection's wait between requests: random with the mean that gives "
        "--paced-rate (independent clients), or exactly that (all connections in step)",
    )
    parser.add_argument("--skip-bare", action="store_true", help="Leadbrain only (no ratio)")
    args = parser.parse_args()
    env = setup("lb_bench_sustained")
    env.setdefault("DEBUG", "false")
    import psycopg
    from django.conf import settings
    from django.db import connection

    from leads.services import api_key_create, workspace_create
    from routing.models import RoutingRule, RuleDestination

    tables_emptied(
        connection,
        ["leads_lead", "leads_leadevent", "leads_idempotencyrecord", "routing_routinglog"],
    )
    workspace = workspace_create(name=f"sustained {time.time()}")
    workspace.api_rate_per_minute = 0
    workspace.api_max_concurrent = 0
    workspace.save()
    _, key = api_key_create(workspace=workspace)
    rule = RoutingRule.objects.create(name="bench: everyone", priority=1)
    RuleDestination.objects.create(rule=rule, workspace=workspace)

    bare_env = {**env, "DJANGO_SETTINGS_MODULE": "bare_settings", "PYTHONPATH": "."}
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v0"],
        cwd=ROOT / "bench" / "bare",
        env=bare_env,
        check=True,
    )
    app_port, bare_port = free_port(), free_port()
    procs: list[subprocess.Popen] = []
    vacuum = beat = None
    try:
        app = gunicorn(env, "config.wsgi", ROOT, app_port, procs)
        gunicorn(bare_env, "bare_wsgi", ROOT / "bench" / "bare", bare_port, procs)
        celery = [str(BIN / "celery"), "-A", "config", "worker", "-Q", "routing", "-c", "1"]
        worker = subprocess.Popen([*celery, "-l", "warning"], cwd=ROOT, env=env)
        procs.append(worker)
        db = psycopg.connect(env["DATABASE_URL"], autocommit=True)
        vacuum = Vacuum(env["DATABASE_URL"], db)
        beat = Beat()
        time.sleep(3)  # the worker connects to the broker
        headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
        offset = int(time.time()) % 1000 * 1_000_000
        for n in range(1, args.rounds + 1):
            ref = {"rate": float("nan"), "p50": "-", "p99": "-"}
            probes = [probe_ms()]
            bare_started = host_ticks()
            if not args.skip_bare:
                ref = wrk(
                    f"http://127.0.0.1:{bare_port}/leads/",
                    args.seconds,
                    args.clients,
                    {"Content-Type": "application/json"},
                    offset,
                )
            offset += 5_000_000
            cpu = stage_pids(app, worker)
            before = {name: cpu_seconds(pids) for name, pids in cpu.items()}
            with db.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM leads_lead")
                leads_before = cursor.fetchone()[0]
            probes.append(probe_ms())
            split = split_later(app_port, tree(app.pid), after=min(5.0, args.seconds / 2))
            started = host_ticks()
            run = wrk(
                f"http://127.0.0.1:{app_port}/api/v1/leads/",
                args.seconds,
                args.clients,
                headers,
                offset,
            )
            offset += 5_000_000
            stopped, ended = time.monotonic(), host_ticks()
            with db.cursor() as cursor:
                while pending(cursor) or routing_queue_depth(
                    env.get("REDIS_URL", settings.REDIS_URL)
                ):
                    if time.monotonic() - stopped > 600:
                        break
                    time.sleep(0.1)
                drained = time.monotonic() - stopped
                cursor.execute("SELECT count(*) FROM leads_lead")
                leads = cursor.fetchone()[0] - leads_before
            # PostgreSQL's backends listed again: those the run's connections started count
            # whole (they began during the run); listed only before, they were missed.
            cpu["postgres"] = postgres_pids()
            after = {name: cpu_seconds(pids) for name, pids in cpu.items()}
            per_lead = {name: (after[name] - before[name]) * 1000 / max(1, leads) for name in cpu}
            print(
                f"round {n}: bare DRF create {ref['rate']:,.0f} req/s (p50 {ref['p50']}, p99 "
                f"{ref['p99']}); Leadbrain {run['rate']:,.0f} leads/s = "
                f"{run['rate'] / ref['rate']:.0%} of bare (p50 {run['p50']}, p99 {run['p99']}; "
                f"connections per web process {split['split']}); "
                f"CPU stolen by the host: bare {stolen(bare_started, started)}, Leadbrain "
                f"{stolen(started, ended)}; a fixed Python loop before each "
                f"{probes[0]:.0f} / {probes[1]:.0f} ms; "
                f"backlog and routing queue at zero {drained:.1f} s after the load stopped; "
                f"CPU per lead: {cpu_text(per_lead)}",
                flush=True,
            )
        if args.paced_seconds > 0:
            if not args.skip_bare:  # the machine's own floor at the same pace
                paced_bare(bare_port, args, offset + 7_000_000)
            paced(app_port, key, args, db, offset, lambda: stage_pids(app, worker))
    finally:
        if vacuum:
            vacuum.stop()
        if beat:
            beat.stop()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def stage_pids(app: subprocess.Popen, worker: subprocess.Popen) -> dict[str, list[int]]:
    return {
        "web": tree(app.pid),
        "routing worker": tree(worker.pid),
        "postgres": postgres_pids(),
    }


def cpu_text(per_lead: dict[str, float]) -> str:
    return ", ".join(f"{name} {ms:.2f} ms" for name, ms in per_lead.items())


def paced_bare(port: int, args, offset: int) -> None:
    """The paced phase against the bare DRF create: the latency this machine gives a plain
    insert at the same pace (the reference for Leadbrain's paced figures)."""
    run = wrk(
        f"http://127.0.0.1:{port}/leads/",
        args.paced_seconds,
        args.clients,
        {"Content-Type": "application/json"},
        offset,
        think_ms=round(1000 * args.clients / args.paced_rate),
        arrivals=args.paced_arrivals,
    )
    print(
        f"paced, bare DRF create: {run['rate']:,.0f} req/s, p50 {run['p50']}, p99 {run['p99']}",
        flush=True,
    )


def paced(port: int, key: str, args, db, offset: int, pids) -> None:
    """``clients`` connections of wrk (a C client: its own overhead is not in the figures),
    each waiting ``clients / paced_rate`` seconds between requests (about ``paced_rate``
    in all): request latency, and from the database the decision latency of the same leads
    (created_at to routed_at)."""
    think_ms = round(1000 * args.clients / args.paced_rate)
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    source = f"paced-{offset}"
    cpu = pids()
    before = {name: cpu_seconds(each) for name, each in cpu.items()}
    run = wrk(
        f"http://127.0.0.1:{port}/api/v1/leads/",
        args.paced_seconds,
        args.clients,
        headers,
        offset,
        think_ms=think_ms,
        source=source,
        arrivals=args.paced_arrivals,
    )
    deadline = time.monotonic() + 60
    with db.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM leads_lead WHERE source = %s AND status = 'pending'",
                [source],
            )
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.2)
        cursor.execute(
            "SELECT extract(epoch FROM routed_at - created_at) * 1000 FROM leads_lead "
            "WHERE source = %s AND routed_at IS NOT NULL",
            [source],
        )
        decisions = [float(row[0]) for row in cursor.fetchall()]
    cpu["postgres"] = postgres_pids()
    per_lead = {
        name: (cpu_seconds(each) - before[name]) * 1000 / max(1, len(decisions))
        for name, each in cpu.items()
    }
    d50, d95 = percentile(decisions, 0.5), percentile(decisions, 0.95)
    print(
        f"paced: {args.clients} connections, {think_ms} ms between requests each "
        f"({args.paced_arrivals}): "
        f"{run['rate']:,.0f} leads/s, p50 {run['p50']}, p99 {run['p99']} "
        f"(non-2xx: {run['non2xx'].group(1) if run['non2xx'] else 0}); decision (commit to "
        f"routed) p50 {d50:.1f} ms, p95 {d95:.1f} ms over {len(decisions)} routed leads; CPU per "
        f"lead: {cpu_text(per_lead)}"
    )


if __name__ == "__main__":
    main()

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
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, free_port, percentile, setup

BIN = Path(sys.executable).parent
HZ = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = """
local counter = 0
local threads = {}
local offset = tonumber(os.getenv("LEAD_OFFSET") or "0")
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  counter = 0
end
request = function()
  counter = counter + 1
  local id = offset + counter * 8 + tid
  local phone = string.format("+1312%03d%04d", 200 + math.floor(id / 10000) % 700, id % 10000)
  local body = string.format(
    '{"first_name":"Bench","last_name":"L%d","phone":"%s","email":"b%d@example.com",'
    .. '"source":"bench","custom":{"n":%d}}', id, phone, id, id)
  return wrk.format("POST", wrk.path, wrk.headers, body)
end
"""


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / HZ


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
    threads as flags for the bare reference (its settings are not the project's)."""
    if app.startswith("config."):
        config = ["-c", str(ROOT / "gunicorn.conf.py")]
    else:
        config = ["-k", "gthread", "-w", env.get("WEB_CONCURRENCY", "2")]
        config += ["--threads", env.get("WEB_THREADS", "4"), "--keep-alive", "30"]
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), app, *config, "-b", f"127.0.0.1:{port}"]
        + ["--log-level", "warning", "--access-logfile", "/dev/null", "--no-control-socket"],
        cwd=cwd,
        env=env,
    )
    procs.append(proc)
    wait_port(port)
    return proc


def wrk(url: str, seconds: int, clients: int, headers: dict, offset: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    cmd = ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", script.name]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, env={**os.environ, "LEAD_OFFSET": str(offset)}
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pcts = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rate, "p50": pcts.get("50"), "p99": pcts.get("99"), "non2xx": errors}


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
    args = parser.parse_args()
    env = setup("lb_bench_sustained")
    env.setdefault("DEBUG", "false")
    import psycopg
    from django.conf import settings
    from django.db import connection

    from leads.services import api_key_create, workspace_create
    from routing.models import RoutingRule, RuleDestination

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE leads_lead, leads_leadevent, leads_idempotencyrecord, routing_routinglog"
        )
        # Fresh statistics: the planner of an emptied table would not use the dedupe index.
        cursor.execute("ANALYZE leads_lead, leads_leadevent, routing_routinglog")
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
    try:
        app = gunicorn(env, "config.wsgi", ROOT, app_port, procs)
        gunicorn(bare_env, "bare_wsgi", ROOT / "bench" / "bare", bare_port, procs)
        celery = [str(BIN / "celery"), "-A", "config", "worker", "-Q", "routing", "-c", "1"]
        worker = subprocess.Popen([*celery, "-l", "warning"], cwd=ROOT, env=env)
        procs.append(worker)
        db = psycopg.connect(env["DATABASE_URL"], autocommit=True)
        time.sleep(3)  # the worker connects to the broker
        headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
        offset = int(time.time()) % 1000 * 1_000_000
        for n in range(1, args.rounds + 1):
            ref = wrk(
                f"http://127.0.0.1:{bare_port}/leads/",
                args.seconds,
                args.clients,
                {"Content-Type": "application/json"},
                offset,
            )
            offset += 5_000_000
            cpu = {
                "web": tree(app.pid),
                "routing worker": tree(worker.pid),
                "postgres": postgres_pids(),
            }
            before = {name: cpu_seconds(pids) for name, pids in cpu.items()}
            with db.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM leads_lead")
                leads_before = cursor.fetchone()[0]
            run = wrk(
                f"http://127.0.0.1:{app_port}/api/v1/leads/",
                args.seconds,
                args.clients,
                headers,
                offset,
            )
            offset += 5_000_000
            stopped = time.monotonic()
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
                f"{run['rate'] / ref['rate']:.0%} of bare (p50 {run['p50']}, p99 {run['p99']}); "
                f"backlog and routing queue at zero {drained:.1f} s after the load stopped; "
                f"CPU per lead: "
                + ", ".join(f"{name} {ms:.2f} ms" for name, ms in per_lead.items()),
                flush=True,
            )
        paced(app_port, key, args, db, offset)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def paced(port: int, key: str, args, db, offset: int) -> None:
    """Open-loop clients at ``paced_rate`` in all: request latency and, from the database,
    the decision latency of the same leads (created_at to routed_at)."""
    import http.client

    latencies: list[float] = []
    ids: list[int] = []
    interval = args.clients / args.paced_rate
    stop_at = time.monotonic() + args.paced_seconds

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        send_at = time.monotonic() + interval * c / args.clients
        k, mine, made = 0, [], []
        while send_at < stop_at:
            time.sleep(max(0.0, send_at - time.monotonic()))
            i = offset + c * 100_000 + k
            body = json.dumps(
                {"phone": f"+1312{200 + i // 10000 % 700:03d}{i % 10000:04d}", "source": "paced"}
            )
            t0 = time.perf_counter()
            conn.request(
                "POST",
                "/api/v1/leads/",
                body=body,
                headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            answer = json.loads(response.read())
            mine.append((time.perf_counter() - t0) * 1000)
            if answer.get("id"):
                made.append(answer["id"])
            k += 1
            send_at += interval
        latencies.extend(mine)
        ids.extend(made)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.paced_seconds + 120)
    deadline = time.monotonic() + 60
    with db.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM leads_lead WHERE id = ANY(%s) AND status = 'pending'", [ids]
            )
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.2)
        cursor.execute(
            "SELECT extract(epoch FROM routed_at - created_at) * 1000 FROM leads_lead "
            "WHERE id = ANY(%s) AND routed_at IS NOT NULL",
            [ids],
        )
        decisions = [float(row[0]) for row in cursor.fetchall()]
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    d50, d95 = percentile(decisions, 0.5), percentile(decisions, 0.95)
    print(
        f"paced {args.paced_rate:g} leads/s from {args.clients} clients, {len(latencies)} "
        f"requests: p50 {p50:.1f} ms, p99 {p99:.1f} ms; decision (commit to routed) p50 "
        f"{d50:.1f} ms, p95 {d95:.1f} ms over {len(decisions)} routed leads"
    )


if __name__ == "__main__":
    main()

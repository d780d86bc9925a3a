"""Workspace isolation: one workspace floods the API, another posts single leads steadily.

The steady workspace's latency is measured alone, then while the flooder's clients fire
requests back to back with their own key. Each workspace has its own rate and concurrency
limits (leads/throttling.py), so the flooder gets 429s and the steady workspace should keep
its latency (target: loaded p99 within 20% of unloaded).

.venv/bin/python bench/isolation.py [--seconds 20] [--rate 20] [--flooders 16] [--flood-rps 0]

Measure on a quiet machine: the load generator shares the CPU with gunicorn, PostgreSQL and
Redis, and other work on the box shows up as latency. A short run (--seconds 3) checks that
the script works.
"""

import argparse
import http.client
import json
import math
import threading
import time
from urllib.parse import urlsplit

import psutil
from _common import percentile, serve, setup
from _wrk import wrk
from ingest import rows


def connect(base: str) -> http.client.HTTPConnection:
    parts = urlsplit(base)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def post(conn: http.client.HTTPConnection, key: str, body: dict) -> int:
    conn.request(
        "POST",
        "/api/v1/leads/",
        body=json.dumps(body),
        headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    response.read()
    return response.status


def steady(base: str, key: str, *, rate: float, seconds: float, clients: int, offset: int):
    """Open loop: each client sends on its own schedule, so queueing shows as latency."""
    latencies: list[float] = []
    lock = threading.Lock()
    interval = clients / rate
    stop_at = time.monotonic() + seconds

    def client(c: int) -> None:
        conn = connect(base)
        send_at = time.monotonic() + interval * c / clients
        mine, k = [], 0
        while send_at < stop_at:
            time.sleep(max(0.0, send_at - time.monotonic()))
            started = time.perf_counter()
            status = post(conn, key, rows(offset + c * 1_000_000 + k, 1)[0])
            mine.append((time.perf_counter() - started) * 1000)
            if status not in (200, 201):
                raise RuntimeError(f"the steady workspace got {status}")
            k += 1
            send_at += interval
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return latencies


def flood(base: str, key: str, *, clients: int, offset: int, seconds: int, rps: float) -> dict:
    """wrk, in its own process (a C client: neither the flooder's CPU nor its threads share
    this process's interpreter with the steady clients, whose latency it would inflate).
    ``rps`` 0: every connection fires its next request as soon as the last one returns
    (closed loop); else each waits a random time (exponential) between requests, with the
    mean that gives about ``rps`` in all (independent clients)."""
    think_ms = round(1000 * clients / rps) if rps else 0
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    url = f"{base}/api/v1/leads/"
    return wrk(url, seconds, clients, headers, offset, think_ms=think_ms, source="flood")


def server_cpu(proc) -> float:
    """CPU seconds of gunicorn's master and workers so far."""
    parent = psutil.Process(proc.pid)
    total = 0.0
    for each in [parent, *parent.children(recursive=True)]:
        times = each.cpu_times()
        total += times.user + times.system
    return total


def summary(latencies: list[float]) -> str:
    p50, p95, p99 = (percentile(latencies, p) for p in (0.5, 0.95, 0.99))
    return f"{len(latencies)} requests, p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"


def workspaces(args: argparse.Namespace) -> tuple[str, str]:
    """A limited flooding workspace and a steady one (default limits); their API keys."""
    from django.db import connection

    from leads.services import api_key_create, workspace_create

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead, leads_leadevent, leads_idempotencyrecord")
    stamp = time.time()
    flooder = workspace_create(name=f"flooder {stamp}")
    flooder.api_rate_per_minute = args.flood_rate
    flooder.api_max_concurrent = args.flood_concurrent
    flooder.save(update_fields=["api_rate_per_minute", "api_max_concurrent"])
    calm = workspace_create(name=f"steady {stamp}")
    _, flood_key = api_key_create(workspace=flooder)
    _, calm_key = api_key_create(workspace=calm)
    return flood_key, calm_key


def report(args, rounds: list[dict]) -> None:
    print(
        f"steady workspace at {args.rate:g} leads/s; {len(rounds)} rounds of {args.seconds:g} s "
        f"alone, then {args.seconds:g} s while the other floods"
    )
    for n, each in enumerate(rounds, start=1):
        flooded = each["flooded"]
        total = flooded.get("requests") or 1
        refused = int(flooded["non2xx"].group(1)) if flooded.get("non2xx") else 0
        unloaded_p99 = percentile(each["alone"], 0.99)
        print(
            f"  round {n}: p99 {unloaded_p99:.1f} -> {percentile(each['loaded'], 0.99):.1f} ms; "
            f"flood {total} requests ({flooded.get('rate', 0):,.0f} req/s), refused "
            f"{refused / total:.1%}; web CPU {each['cpu_alone']:.1f} s alone, "
            f"{each['cpu_loaded']:.1f} s flooded"
        )
    alone = [ms for each in rounds for ms in each["alone"]]
    loaded = [ms for each in rounds for ms in each["loaded"]]
    print(f"  unloaded: {summary(alone)}")
    print(f"  loaded:   {summary(loaded)}")
    ratio = percentile(loaded, 0.99) / percentile(alone, 0.99)
    print(f"  p99 loaded / unloaded: {ratio:.2f} (target <= 1.20)")
    mode = f"about {args.flood_rps:g}/s (think time)" if args.flood_rps else "closed loop"
    requests = sum(each["flooded"].get("requests", 0) for each in rounds)
    seconds = sum(each["flood_seconds"] for each in rounds)
    extra = sum(
        max(0.0, each["cpu_loaded"] - each["cpu_alone"] * each["flood_seconds"] / args.seconds)
        for each in rounds
    )
    print(
        f"flooder (wrk): {args.flooders} connections ({mode}), limit {args.flood_rate}/min and "
        f"{args.flood_concurrent} in flight: {requests / seconds:,.0f} req/s; web CPU "
        f"{extra * 1000 / max(1, requests):.2f} ms per flood request "
        f"(API_REFUSAL_MEMO_SECONDS={setting('API_REFUSAL_MEMO_SECONDS')}, "
        f"API_REFUSAL_PARK_SECONDS={setting('API_REFUSAL_PARK_SECONDS')})"
    )


def setting(name: str) -> str:
    from django.conf import settings

    return f"{getattr(settings, name):g}"


def flood_round(args, base: str, proc, keys: tuple[str, str], offset: int) -> dict:
    """The steady workspace alone, then while the other floods (started ``--flood-lead``
    seconds before the loaded phase, so the flooder's minute budget is spent)."""
    flood_key, calm_key = keys
    phase = {"rate": args.rate, "seconds": args.seconds, "clients": args.steady_clients}
    cpu0 = server_cpu(proc)
    alone = steady(base, calm_key, offset=offset, **phase)
    cpu1 = server_cpu(proc)
    flood_seconds = math.ceil(args.flood_lead + args.seconds + 2)
    flooded: dict = {}
    flooding = threading.Thread(
        target=lambda: flooded.update(
            flood(
                base,
                flood_key,
                clients=args.flooders,
                offset=offset + 500_000,
                seconds=flood_seconds,
                rps=args.flood_rps,
            )
        )
    )
    flooding.start()
    time.sleep(args.flood_lead + 1)
    loaded = steady(base, calm_key, offset=offset + 300_000, **phase)
    flooding.join(timeout=flood_seconds + 60)
    return {
        "alone": alone,
        "loaded": loaded,
        "flooded": flooded,
        "flood_seconds": flood_seconds,
        "cpu_alone": cpu1 - cpu0,
        "cpu_loaded": server_cpu(proc) - cpu1,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating unloaded and loaded phases"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="steady leads/s")
    parser.add_argument("--steady-clients", type=int, default=4)
    parser.add_argument("--flooders", type=int, default=16, help="flooding connections")
    parser.add_argument("--flood-rate", type=int, default=600, help="flooder's limit per minute")
    parser.add_argument(
        "--flood-rps",
        type=float,
        default=0,
        help="flooder's requests/s in all (each connection waits a random time between its "
        "requests); 0: back to back (closed loop)",
    )
    parser.add_argument(
        "--flood-lead",
        type=float,
        default=5,
        help="seconds the flood runs before the loaded phase is measured",
    )
    parser.add_argument("--flood-concurrent", type=int, default=2, help="flooder's in flight")
    args = parser.parse_args()
    env = setup("lb_bench_isolation")
    env["CACHE_KEY_PREFIX"] = "lbbench"  # limits keyed by workspace id: not the dev database's
    keys = workspaces(args)
    offset = int(time.time()) % 1000 * 10_000_000

    proc, base = serve(env)
    try:
        steady(base, keys[1], rate=args.rate, seconds=1, clients=1, offset=offset)  # warm up
        rounds = [
            flood_round(args, base, proc, keys, offset + n * 10_000_000)
            for n in range(1, args.rounds + 1)
        ]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    report(args, rounds)


if __name__ == "__main__":
    main()

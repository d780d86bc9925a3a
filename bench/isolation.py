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
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import psutil
from _common import percentile, serve, setup
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


def flood(
    base: str, key: str, *, clients: int, offset: int, stop: threading.Event, rps: float = 0
) -> Counter:
    """Closed loop (``rps`` 0): every client fires its next request as soon as the last one
    returns. Open loop: the clients together send ``rps`` requests a second on a schedule."""
    statuses: Counter = Counter()
    lock = threading.Lock()
    interval = clients / rps if rps else 0.0

    def client(c: int) -> None:
        conn = connect(base)
        mine: Counter = Counter()
        k = 0
        send_at = time.monotonic() + interval * c / clients
        while not stop.is_set():
            if interval:
                time.sleep(max(0.0, send_at - time.monotonic()))
                send_at += interval
            mine[post(conn, key, rows(offset + c * 1_000_000 + k, 1)[0])] += 1
            k += 1
        with lock:
            statuses.update(mine)

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


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


def report(args, alone, loaded, statuses: Counter, seconds: float, cpu: tuple[float, float]):
    total = sum(statuses.values()) or 1
    print(f"steady workspace at {args.rate:g} leads/s, {args.seconds:g} s per phase")
    print(f"  unloaded: {summary(alone)}")
    print(f"  loaded:   {summary(loaded)}")
    ratio = percentile(loaded, 0.99) / percentile(alone, 0.99)
    print(f"  p99 loaded / unloaded: {ratio:.2f} (target <= 1.20)")
    mode = f"open loop at {args.flood_rps:g}/s" if args.flood_rps else "closed loop"
    print(
        f"flooder: {args.flooders} connections ({mode}), limit {args.flood_rate}/min and "
        f"{args.flood_concurrent} in flight: {total} requests "
        f"({total / seconds:,.0f} req/s), 429 share {statuses[429] / total:.1%}, "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    steady_cpu, loaded_cpu = cpu
    extra = max(0.0, loaded_cpu - steady_cpu * (seconds / args.seconds))
    print(
        f"web CPU: {steady_cpu:.1f} s in the unloaded phase, {loaded_cpu:.1f} s while flooding: "
        f"{extra * 1000 / total:.2f} ms per flood request "
        f"(API_REFUSAL_MEMO_SECONDS={settings_memo()})"
    )


def settings_memo() -> str:
    from django.conf import settings

    return f"{settings.API_REFUSAL_MEMO_SECONDS:g}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument("--rate", type=float, default=20.0, help="steady leads/s")
    parser.add_argument("--steady-clients", type=int, default=4)
    parser.add_argument("--flooders", type=int, default=16, help="flooding connections")
    parser.add_argument("--flood-rate", type=int, default=600, help="flooder's limit per minute")
    parser.add_argument(
        "--flood-rps",
        type=float,
        default=0,
        help="flooder's requests/s on a schedule (open loop); 0: back to back (closed loop)",
    )
    parser.add_argument(
        "--flood-lead",
        type=float,
        default=0,
        help="seconds the flood runs before the loaded phase is measured",
    )
    parser.add_argument("--flood-concurrent", type=int, default=2, help="flooder's in flight")
    args = parser.parse_args()
    env = setup("lb_bench_isolation")
    env["CACHE_KEY_PREFIX"] = "lbbench"  # limits keyed by workspace id: not the dev database's
    flood_key, calm_key = workspaces(args)
    offset = int(time.time()) % 1000 * 10_000_000
    phase = {"rate": args.rate, "seconds": args.seconds, "clients": args.steady_clients}

    proc, base = serve(env)
    try:
        steady(base, calm_key, rate=args.rate, seconds=1, clients=1, offset=offset)  # warm up
        cpu0 = server_cpu(proc)
        alone = steady(base, calm_key, offset=offset + 100_000, **phase)
        cpu1 = server_cpu(proc)
        stop = threading.Event()
        flood_result: list[Counter] = []
        flooding = threading.Thread(
            target=lambda: flood_result.append(
                flood(
                    base,
                    flood_key,
                    clients=args.flooders,
                    offset=offset + 500_000,
                    stop=stop,
                    rps=args.flood_rps,
                )
            )
        )
        cpu2 = server_cpu(proc)
        flood_started = time.monotonic()
        flooding.start()
        time.sleep(args.flood_lead)  # the flooder spends its minute's budget before we measure
        try:
            loaded = steady(base, calm_key, offset=offset + 300_000, **phase)
        finally:
            stop.set()
            flooding.join(timeout=120)
        flood_seconds = time.monotonic() - flood_started
        cpu3 = server_cpu(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    statuses = flood_result[0] if flood_result else Counter()
    report(args, alone, loaded, statuses, flood_seconds, (cpu1 - cpu0, cpu3 - cpu2))


if __name__ == "__main__":
    main()

"""Call-log speed: the webhook under concurrent load and the sync from a Vici database.

.venv/bin/python bench/calllogs.py [--seconds 20] [--clients 16] [--sync-rows 100000]
"""

import argparse
import multiprocessing
import secrets
import sys
import threading
import time
from pathlib import Path

from _common import percentile, serve, setup

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load(
    queue,
    base: str,
    server_id: int,
    token: str,
    proc: int,
    clients: int,
    seconds: float,
    epoch0: int,
) -> None:
    """Closed-loop clients on keep-alive connections (http.client: the cheapest generator)."""
    import http.client
    from urllib.parse import urlencode, urlsplit

    host = urlsplit(base)
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
        mine, n = [], 0
        while time.monotonic() < stop:
            n += 1
            query = urlencode(
                {
                    "server": server_id,
                    "token": token,
                    "kind": "dispo",
                    "uniqueid": f"{epoch0 + n % 3000}.{proc}{c:02d}{n}",
                    "lead_id": "--A--lead_id--B--",
                    "dispo": "NA",
                    "talk_time": "0",
                    "user": "VDAD",
                    "list_id": "1001",
                }
            )
            t0 = time.perf_counter()
            conn.request("GET", f"/webhooks/vici/call/?{query}")
            response = conn.getresponse()
            body = response.read()
            mine.append((time.perf_counter() - t0) * 1000)
            assert response.status == 200, body
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(latencies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--sync-rows", type=int, default=100_000)
    args = parser.parse_args()
    env = setup("lb_bench_calllogs")

    import pymysql
    from django.db import connection

    from calllogs import services
    from calllogs.models import CallLog, ServerHook
    from dialer.models import ViciServer
    from tests.calllogs.fixtures import SCHEMA, ViciDatabase

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE calllogs_calllog")
    ServerHook.objects.all().delete()
    ViciServer.objects.filter(name="bench-calls").delete()
    name = f"vici_bench_{secrets.token_hex(3)}"
    vdb = ViciDatabase("mysql://root@127.0.0.1:3306/", name)
    admin = pymysql.connect(autocommit=True, **vdb.kwargs)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    for statement in SCHEMA:
        vdb.execute(statement)
    server = ViciServer.objects.create(
        name="bench-calls", api_url="http://127.0.0.1:9/", api_user="x", db_url=vdb.url
    )
    hook = ServerHook.objects.create(server=server, token="bench-token")
    connection.close()

    proc, base = serve(env, workers=2)
    try:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        epoch0 = int(time.time()) - 3600
        per_proc = max(1, args.clients // args.processes)
        procs = [
            ctx.Process(
                target=load,
                args=(queue, base, server.pk, hook.token, p, per_proc, args.seconds, epoch0),
            )
            for p in range(args.processes)
        ]
        started = time.perf_counter()
        for p in procs:
            p.start()
        latencies: list[float] = []
        for _ in procs:
            latencies += queue.get(timeout=args.seconds + 120)
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - started
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(
            f"webhook: {len(latencies):,} events in {elapsed:.1f}s = "
            f"{len(latencies) / elapsed:,.0f} events/s ({args.processes} x {per_proc} "
            f"keep-alive clients; gunicorn 2 processes x 4 threads); p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms"
        )
        started = time.perf_counter()
        applied = services.webhook_events_drain()
        drained = time.perf_counter() - started
        print(
            f"webhook: worker applied the {applied:,} stored events in {drained:.1f}s "
            f"({applied / max(drained, 0.001):,.0f} events/s); "
            f"{CallLog.objects.filter(server=server).count():,} call rows"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # sync: fill vicidial_log, then one sync reads it into partitions
    epoch = int(time.time()) - 6 * 3600
    conn = pymysql.connect(database=name, autocommit=True, **vdb.kwargs)
    with conn.cursor() as cursor:
        for start in range(0, args.sync_rows, 5000):
            rows = [
                (
                    f"{epoch + i % 20000}.{i}",
                    1000 + i,
                    1001,
                    "TESTCAMP",
                    epoch + i % 20000,
                    30,
                    "SALE" if i % 10 == 0 else "NA",
                    f"415{i:07d}",
                    "agent1",
                )
                for i in range(start, min(args.sync_rows, start + 5000))
            ]
            cursor.executemany(
                "INSERT INTO vicidial_log (uniqueid, lead_id, list_id, campaign_id, start_epoch,"
                " length_in_sec, status, phone_number, user) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                rows,
            )
    conn.close()
    started = time.perf_counter()
    total = services.calllogs_sync(server_id=server.pk)
    elapsed = time.perf_counter() - started
    print(
        f"sync: {total:,} call rows in {elapsed:.1f}s = {total / elapsed * 60:,.0f} rows/min "
        f"(stored: {CallLog.objects.filter(server=server).count():,})"
    )
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE {name}")


if __name__ == "__main__":
    main()

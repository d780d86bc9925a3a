"""Intake speed: the service alone, the bulk API end to end, single POST latency.

.venv/bin/python bench/ingest.py [--batches 20] [--clients 50]
.venv/bin/python bench/ingest.py sustained [--seconds 300 --rounds 2 ...]

``sustained`` runs bench/ingest_sustained.py with the arguments after it: single-lead
intake for minutes at 50 clients with routing running, beside a bare DRF create, then paced
(issue 17).
"""

import argparse
import sys
import threading
import time

from _common import percentile, serve, setup

# Area codes in service (a number in an unassigned one is refused with a 400).
AREA_CODES = (312, 415, 213, 646, 702, 305, 617, 206, 404, 503, 612, 713, 214, 303, 602)


def rows(start: int, n: int) -> list[dict]:
    return [
        {
            "first_name": "Bench",
            "last_name": f"L{i}",
            "phone": f"+1{AREA_CODES[(i // 7_000_000) % len(AREA_CODES)]}"
            f"{200 + (i // 10_000) % 700:03d}{i % 10_000:04d}",
            "email": f"bench{i}@example.com",
            "source": "bench",
            "custom": {"n": i},
        }
        for i in range(start, start + n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--singles", type=int, default=20, help="POSTs per client")
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=200.0,
        help="leads/s of all paced clients together (the old system: 50)",
    )
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    args = parser.parse_args()
    env = setup("lb_bench_ingest")

    import requests
    from django.db import connection

    from leads.models import Lead
    from leads.services import api_key_create, lead_ingest_batch, workspace_create

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead, leads_leadevent, leads_idempotencyrecord")
    workspace = workspace_create(name=f"bench {time.time()}")
    # No API limits: the bench measures capacity (the limits are bench/isolation.py's).
    workspace.api_rate_per_minute = 0
    workspace.api_max_concurrent = 0
    workspace.save()
    _, key = api_key_create(workspace=workspace)
    offset = int(time.time()) % 1000 * 100_000

    # (a) the service alone
    started = time.perf_counter()
    for b in range(args.batches):
        lead_ingest_batch(workspace=workspace, rows=rows(offset + b * 1000, 1000))
    elapsed = time.perf_counter() - started
    print(
        f"service: {args.batches * 1000} leads in {elapsed:.2f}s = "
        f"{args.batches * 1000 / elapsed:,.0f} leads/s"
    )

    proc, base = serve(env, workers=2)
    try:
        headers = {"Authorization": f"Api-Key {key}"}
        # (b) bulk API end to end: 4 client threads, 1,000-row bulks
        offset += args.batches * 1000
        per_thread = max(1, args.batches // 4)
        counts = []

        def bulk(t: int) -> None:
            session = requests.Session()
            for b in range(per_thread):
                start = offset + (t * per_thread + b) * 1000
                r = session.post(
                    f"{base}/api/v1/leads/bulk/",
                    json=rows(start, 1000),
                    headers=headers,
                    timeout=60,
                )
                r.raise_for_status()
                counts.append(sum(1 for x in r.json() if x["status"] == "created"))

        started = time.perf_counter()
        threads = [threading.Thread(target=bulk, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        elapsed = time.perf_counter() - started
        print(
            f"bulk API: {sum(counts)} leads in {elapsed:.2f}s = "
            f"{sum(counts) / elapsed:,.0f} leads/s (4 clients, 1,000-row bulks)"
        )

        # (c) single POST latency under concurrent clients
        offset += 4 * per_thread * 1000
        latencies: list[float] = []
        barrier = threading.Barrier(args.clients)

        def single(c: int) -> None:
            session = requests.Session()
            barrier.wait(timeout=30)
            for k in range(args.singles):
                body = rows(offset + c * args.singles + k, 1)[0]
                t0 = time.perf_counter()
                r = session.post(f"{base}/api/v1/leads/", json=body, headers=headers, timeout=30)
                latencies.append((time.perf_counter() - t0) * 1000)
                assert r.status_code in (200, 201), r.text

        started = time.perf_counter()
        threads = [threading.Thread(target=single, args=(c,)) for c in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        elapsed = time.perf_counter() - started
        p50, p95, p99 = (percentile(latencies, p) for p in (0.5, 0.95, 0.99))
        print(
            f"single POST, {args.clients} concurrent clients, {len(latencies)} requests "
            f"({len(latencies) / elapsed:,.0f} req/s): p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
            f"p99 {p99:.1f} ms"
        )

        # (d) the same 50 clients at a paced, realistic rate (open loop: each client sends on
        # its own schedule whether or not the server is slow, so queueing shows up as latency)
        offset += args.clients * args.singles
        latencies = []
        rate = args.paced_rate
        interval = args.clients / rate
        stop_at = time.monotonic() + args.paced_seconds

        def paced(c: int) -> None:
            import http.client
            import json as jsonlib
            from urllib.parse import urlsplit

            host = urlsplit(base)
            conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
            send_at = time.monotonic() + interval * c / args.clients
            k = 0
            mine = []
            while send_at < stop_at:
                time.sleep(max(0.0, send_at - time.monotonic()))
                body = jsonlib.dumps(rows(offset + c * 100_000 + k, 1)[0])
                t0 = time.perf_counter()
                conn.request(
                    "POST",
                    "/api/v1/leads/",
                    body=body,
                    headers={**headers, "Content-Type": "application/json"},
                )
                response = conn.getresponse()
                response.read()
                mine.append((time.perf_counter() - t0) * 1000)
                assert response.status in (200, 201)
                k += 1
                send_at += interval
            latencies.extend(mine)

        started = time.perf_counter()
        threads = [threading.Thread(target=paced, args=(c,)) for c in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.paced_seconds + 120)
        elapsed = time.perf_counter() - started
        p50, p95, p99 = (percentile(latencies, p) for p in (0.5, 0.95, 0.99))
        print(
            f"single POST, {args.clients} clients paced at {rate:g} leads/s in all, "
            f"{len(latencies)} requests ({len(latencies) / elapsed:,.0f} req/s): "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"leads stored: {Lead.objects.filter(workspace=workspace).count()}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["sustained"]:
        import ingest_sustained

        sys.argv = [sys.argv[0], *sys.argv[2:]]
        ingest_sustained.main()
    else:
        main()

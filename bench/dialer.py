"""Dialer push speed against the VICIdial double (50 ms latency, 10 concurrent requests).

    .venv/bin/python bench/dialer.py [--leads 10000] [--latency 0.05] [--concurrency 10]

Prints leads/s for one server and the drain's peak RSS growth for a small and a large
outbox (memory must stay flat whatever the outbox size).
"""

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path

from _common import setup

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def serve_double(conn, latency: float) -> None:
    from tests.dialer.vici_double import ViciDouble

    double = ViciDouble().start()
    double.add_list(1001)
    double.latency = latency
    conn.send(double.url)
    while conn.recv() != "count":
        pass
    conn.send(len(double.state.leads))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    setup("lb_bench_dialer")

    from django.db import connection

    from dialer import services
    from dialer.models import OutboxItem, ViciList, ViciServer
    from leads.services import workspace_create

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE dialer_outboxitem, leads_lead, leads_leadevent")
    OutboxItem.objects.all().delete()
    ViciList.objects.all().delete()
    ViciServer.objects.all().delete()
    # The double runs in its own process so that it does not share our GIL.
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve_double, args=(child, args.latency), daemon=True)
    proc.start()
    url = parent.recv()
    server = ViciServer.objects.create(
        name="bench",
        api_url=url,
        api_user="crmapi",
        max_concurrency=args.concurrency,
        max_calls_per_hour=10_000_000,
        timeout_seconds=10,
    )
    services.server_set_password(server=server, password="Secret123")
    vlist = ViciList.objects.create(server=server, list_id=1001, name="bench")
    workspace = workspace_create(name=f"bench {time.time()}")

    def run(n: int, offset: int) -> tuple[float, float]:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO leads_lead (workspace_id, created_at, updated_at, first_name, "
                "last_name, phone, email, company, industry, state, postal_code, timezone, "
                "source, external_id, custom, consent_text, consent_url, dedupe_hash, status, "
                "status_reason, locked_by, routing_attempts) SELECT %s, now(), now(), 'B', "
                "'L', '+1415' || lpad((g + %s)::text, 7, '0'), '', '', '', 'CA', '', '', '', "
                "'', '{}', '', '', md5(g::text), 'routed', '', '', 0 "
                "FROM generate_series(1, %s) g RETURNING id",
                [workspace.pk, offset, n],
            )
            ids = [row[0] for row in cursor.fetchall()]
        services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vlist.pk)
        before = rss_mb()
        started = time.perf_counter()
        stats = services.outbox_drain(server_id=server.pk)
        elapsed = time.perf_counter() - started
        assert stats.sent == n, stats
        return n / elapsed, rss_mb() - before

    small_rate, small_rss = run(1000, 0)
    big_rate, big_rss = run(args.leads, 1000)
    parent.send("count")
    count = parent.recv()
    proc.terminate()
    print(f"latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}, batches of 100")
    print(f"outbox of 1,000: {small_rate:,.0f} leads/s, peak RSS growth {small_rss:.1f} MB")
    print(f"outbox of {args.leads:,}: {big_rate:,.0f} leads/s, peak RSS growth {big_rss:.1f} MB")
    print(f"VICIdial double holds {count:,} leads (no duplicates)")


if __name__ == "__main__":
    main()

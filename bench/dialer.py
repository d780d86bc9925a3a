"""Dialer push speed against the VICIdial double, next to a plain ``requests`` client.

    .venv/bin/python bench/dialer.py [--leads 3000] [--latency 0.02] [--concurrency 4,10]
                                     [--rounds 3] [--profile drain.prof] [--rss]

For each concurrency, in the same run and against the same double (its own process, the
same latency per request), it measures in alternating rounds:

* plain: a keep-alive ``requests.Session`` shared by ``concurrency`` threads that POST the
  same ``add_lead`` form the drain sends, reading each answer, and nothing else;
* drain: ``outbox_drain`` of an outbox of the same size (claim, re-checks, send, parse,
  record, events), with the server's ``max_concurrency`` set to the same concurrency;

and prints both rates, their ratio per round, and the medians. ``--profile`` writes a
cProfile of one more drain; ``--rss`` adds the drain's peak RSS growth for an outbox of 1,000
and of ``--leads`` (memory must stay flat whatever the outbox size).
"""

import argparse
import cProfile
import multiprocessing
import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import setup

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "Secret123"


def serve_double(conn, latency: float) -> None:
    from simulators.vicidial import ViciSimulator

    double = ViciSimulator(password=PASSWORD).start()
    double.add_list(1001)
    double.latency = latency
    conn.send(double.url)
    while (message := conn.recv()) != "stop":
        if message == "count":
            conn.send(len(double.state.leads))
    double.stop()


def start_double(latency: float):
    ctx = multiprocessing.get_context("spawn")  # its own process: it must not share our GIL
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve_double, args=(child, latency), daemon=True)
    proc.start()
    return proc, parent, parent.recv()


def plain_rate(url: str, concurrency: int, n: int, offset: int) -> float:
    """The same add_lead form, POSTed by a bare keep-alive session from ``concurrency``
    threads: the reference for what the HTTP client and the double reach on their own."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=concurrency, pool_maxsize=concurrency)
    session.mount("http://", adapter)
    forms = [
        {
            "function": "add_lead",
            "user": "crmapi",
            "pass": PASSWORD,
            "source": "leadbrain",
            "phone_number": f"52{offset + i:08d}",
            "phone_code": "1",
            "list_id": "1001",
            "list_exists_check": "Y",
            "dnc_check": "Y",
            "duplicate_check": "DUPLIST",
            "add_to_hopper": "N",
            "hopper_priority": "0",
            "vendor_lead_code": str(offset + i),
            "first_name": "B",
            "last_name": "L",
            "state": "CA",
        }
        for i in range(n)
    ]

    def post(form: dict) -> str:
        return session.post(url, data=form, timeout=10).text

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        started = time.perf_counter()
        answers = list(pool.map(post, forms))
        elapsed = time.perf_counter() - started
    assert all(a.startswith("SUCCESS") for a in answers), answers[:3]
    session.close()
    return n / elapsed


def insert_leads(workspace_id: int, n: int, offset: int) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leads_lead (workspace_id, created_at, updated_at, first_name, "
            "last_name, phone, email, company, industry, state, postal_code, timezone, "
            "source, external_id, custom, consent_text, consent_url, dedupe_hash, status, "
            "status_reason, locked_by, routing_attempts) SELECT %s, now(), now(), 'B', "
            "'L', '+1415' || lpad((g + %s)::text, 7, '0'), '', '', '', 'CA', '', '', '', "
            "'', '{}', '', '', md5(g::text), 'routed', '', '', 0 "
            "FROM generate_series(1, %s) g RETURNING id",
            [workspace_id, offset, n],
        )
        return [row[0] for row in cursor.fetchall()]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drain_rate(server, vlist, workspace_id: int, n: int, offset: int, profile: str = ""):
    from dialer import services

    ids = insert_leads(workspace_id, n, offset)
    services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vlist.pk)
    before = rss_mb()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    stats = services.outbox_drain(server_id=server.pk)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    elapsed = time.perf_counter() - started
    assert stats.sent == n, stats
    return n / elapsed, rss_mb() - before


def reset_tables() -> None:
    from django.db import connection

    from dialer.models import ViciList, ViciServer

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE dialer_outboxitem, leads_lead, leads_leadevent")
    ViciList.objects.all().delete()
    ViciServer.objects.all().delete()


def bench_concurrency(args, concurrency: int, workspace_id: int) -> tuple[float, float]:
    from dialer import services
    from dialer.models import ViciList, ViciServer

    reset_tables()
    proc, pipe, url = start_double(args.latency)
    server = ViciServer.objects.create(
        name="bench",
        api_url=url,
        api_user="crmapi",
        max_concurrency=concurrency,
        max_calls_per_hour=10_000_000,
        timeout_seconds=10,
    )
    services.server_set_password(server=server, password=PASSWORD)
    vlist = ViciList.objects.create(server=server, list_id=1001, name="bench")
    plains, drains, offset = [], [], 0
    plain_rate(url, concurrency, 200, 90_000_000)  # warm up both sides
    drain_rate(server, vlist, workspace_id, 200, offset)
    offset += 200
    for round_ in range(args.rounds):
        order = ("plain", "drain") if round_ % 2 == 0 else ("drain", "plain")
        rates = {}
        for kind in order:
            if kind == "plain":
                rates[kind] = plain_rate(url, concurrency, args.leads, 10_000_000 * (round_ + 1))
            else:
                rates[kind], _ = drain_rate(server, vlist, workspace_id, args.leads, offset)
                offset += args.leads
        plains.append(rates["plain"])
        drains.append(rates["drain"])
        print(
            f"  c={concurrency:>2} round {round_ + 1}: plain {rates['plain']:7.1f}/s  "
            f"drain {rates['drain']:7.1f}/s  ratio {rates['drain'] / rates['plain']:6.1%}",
            flush=True,
        )
    if args.profile:
        drain_rate(server, vlist, workspace_id, args.leads, offset, profile=args.profile)
        offset += args.leads
        print(f"  profile of one drain written to {args.profile}")
    pipe.send("count")
    count = pipe.recv()
    expected = 200 + offset + args.leads * args.rounds
    pipe.send("stop")
    proc.join(timeout=10)
    assert count == expected, (count, expected)  # every lead once: no duplicates
    return statistics.median(plains), statistics.median(drains)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", default="4,10")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="")
    parser.add_argument("--rss", action="store_true")
    args = parser.parse_args()
    setup("lb_bench_dialer")

    from leads.services import workspace_create

    workspace = workspace_create(name=f"bench {time.time()}")
    print(f"latency {args.latency * 1000:.0f} ms, {args.leads:,} leads per run, batches of 100")
    results = {}
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        results[concurrency] = bench_concurrency(args, concurrency, workspace.pk)
    for concurrency, (plain, drain) in results.items():
        print(
            f"concurrency {concurrency:>2}: plain requests {plain:7.1f}/s, drain {drain:7.1f}/s "
            f"(medians of {args.rounds}), drain/plain {drain / plain:.1%}"
        )
    if args.rss:
        rss(args, workspace.pk)


def rss(args, workspace_id: int) -> None:
    from dialer import services
    from dialer.models import ViciList, ViciServer

    reset_tables()
    proc, pipe, url = start_double(args.latency)
    server = ViciServer.objects.create(
        name="bench",
        api_url=url,
        api_user="crmapi",
        max_concurrency=10,
        max_calls_per_hour=10_000_000,
        timeout_seconds=10,
    )
    services.server_set_password(server=server, password=PASSWORD)
    vlist = ViciList.objects.create(server=server, list_id=1001, name="bench")
    _, small = drain_rate(server, vlist, workspace_id, 1000, 0)
    _, big = drain_rate(server, vlist, workspace_id, 10_000, 1000)
    pipe.send("stop")
    proc.join(timeout=10)
    print(f"drain peak RSS growth: outbox of 1,000 {small:.1f} MB, of 10,000 {big:.1f} MB")


if __name__ == "__main__":
    main()

"""Where a single-lead POST spends its CPU, in process (no network, no load generator).

    .venv/bin/python bench/profile_intake.py [--leads 2000] [--profile out.prof]

Posts ``--leads`` leads one by one through Django's WSGI handler (every middleware, the
authentication, throttle, serializer, intake service and commit), prints the CPU time per
request of this process and of PostgreSQL's backend, and the top functions by cumulative
time. Routing is not run (its wake is a Celery message; the worker's CPU is measured by
bench/ingest_sustained.py).
"""

import argparse
import cProfile
import json
import sys
import time

from _common import backend_cpu_clock, profile_print, setup, tables_emptied


def preload(workspace, count: int, offset: int) -> None:
    """``count`` routed leads of the same workspace, then fresh planner statistics."""
    from django.db import connection

    from leads.intake import lead_ingest_batch

    for start in range(0, count, 1000):
        rows = [
            {
                "first_name": "Old",
                "last_name": f"L{i}",
                "phone": f"+1415{200 + i // 10000 % 700:03d}{i % 10000:04d}",
                "email": f"old{i}@example.com",
            }
            for i in range(offset + start, offset + min(count, start + 1000))
        ]
        lead_ingest_batch(workspace=workspace, rows=rows, announce=False)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE leads_lead SET status = 'routed' WHERE status = 'pending'")
        cursor.execute("VACUUM ANALYZE leads_lead")
        cursor.execute("ANALYZE leads_leadevent")


def statements_reset() -> bool:
    """pg_stat_statements, when the server loads it: reset, to read this run's statements."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if cursor.fetchone() is None:
            return False
        cursor.execute("SELECT pg_stat_statements_reset()")
    return True


def statements_print(leads: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT calls, total_plan_time, total_exec_time, left(regexp_replace(query, "
            "'\\s+', ' ', 'g'), 90) FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY total_plan_time + total_exec_time DESC LIMIT 15"
        )
        print("PostgreSQL per lead (ms): plan, execute, calls per lead, statement")
        for calls, plan, execute, query in cursor.fetchall():
            print(f"  {plan / leads:6.3f} {execute / leads:6.3f} {calls / leads:5.2f}  {query}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--profile", default="")
    parser.add_argument(
        "--plain", action="store_true", help="no profiler: the times without its overhead"
    )
    parser.add_argument(
        "--preload", type=int, default=200_000, help="leads stored first (a table in use)"
    )
    args = parser.parse_args()
    setup("lb_bench_profile")
    from django.db import connection
    from django.test import Client

    from leads.services import api_key_create, workspace_create

    tables_emptied(connection, ["leads_lead", "leads_leadevent", "leads_idempotencyrecord"])
    workspace = workspace_create(name=f"profile {time.time()}")
    workspace.api_rate_per_minute = 0
    workspace.api_max_concurrent = 0
    workspace.save()
    _, key = api_key_create(workspace=workspace)
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    offset = int(time.time()) % 100_000 * 10
    preload(workspace, args.preload, offset + 5_000_000)

    def post(n: int) -> None:
        i = offset + n
        body = {
            "first_name": "Bench",
            "last_name": f"L{i}",
            "phone": f"+1312{200 + i // 10000 % 700:03d}{i % 10000:04d}",
            "email": f"b{i}@example.com",
            "source": "bench",
            "custom": {"n": i},
        }
        response = client.post("/api/v1/leads/", json.dumps(body), content_type="application/json")
        assert response.status_code == 201, response.content

    for n in range(50):  # warm up: caches, prepared plans, the key check
        post(n)
    backend_cpu = backend_cpu_clock(connection)

    statements = statements_reset()
    profiler = cProfile.Profile()
    cpu0, pg0, wall0 = time.process_time(), backend_cpu(), time.perf_counter()
    if not args.plain:
        profiler.enable()
    for n in range(50, 50 + args.leads):
        post(n)
    profiler.disable()
    cpu, pg, wall = time.process_time() - cpu0, backend_cpu() - pg0, time.perf_counter() - wall0
    per = 1000 / args.leads
    print(
        f"{args.leads} single POSTs: {wall * per:.2f} ms wall, {cpu * per:.2f} ms CPU in Django "
        f"({'without' if args.plain else 'with'} the profiler's overhead), "
        f"{pg * per:.2f} ms CPU in PostgreSQL, per lead"
    )
    if statements:
        statements_print(args.leads)
    if args.plain:
        sys.exit(0)
    profile_print(profiler, args.profile)
    sys.exit(0)


if __name__ == "__main__":
    main()

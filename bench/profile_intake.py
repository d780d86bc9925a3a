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
import io
import json
import os
import pstats
import sys
import time

from _common import setup


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()
    setup("lb_bench_profile")
    from django.db import connection
    from django.test import Client

    from leads.services import api_key_create, workspace_create

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead, leads_leadevent, leads_idempotencyrecord")
    workspace = workspace_create(name=f"profile {time.time()}")
    workspace.api_rate_per_minute = 0
    workspace.api_max_concurrent = 0
    workspace.save()
    _, key = api_key_create(workspace=workspace)
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    offset = int(time.time()) % 100_000 * 10

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
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    def backend_cpu() -> float:
        fields = open(f"/proc/{backend}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    profiler = cProfile.Profile()
    cpu0, pg0, wall0 = time.process_time(), backend_cpu(), time.perf_counter()
    profiler.enable()
    for n in range(50, 50 + args.leads):
        post(n)
    profiler.disable()
    cpu, pg, wall = time.process_time() - cpu0, backend_cpu() - pg0, time.perf_counter() - wall0
    per = 1000 / args.leads
    print(
        f"{args.leads} single POSTs: {wall * per:.2f} ms wall, {cpu * per:.2f} ms CPU in Django "
        f"(with the profiler's overhead), {pg * per:.2f} ms CPU in PostgreSQL, per lead"
    )
    if args.profile:
        profiler.dump_stats(args.profile)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
    print(out.getvalue())
    sys.exit(0)


if __name__ == "__main__":
    main()

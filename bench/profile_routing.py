"""Where a routing pass spends its CPU, in process: the paced phase's passes.

    .venv/bin/python bench/profile_routing.py [--passes 300] [--per-pass 10] [--profile out.prof]

Stores ``--per-pass`` pending leads, routes them with one ``route_pending`` pass (the woken
task's pass, without Celery), again ``--passes`` times; prints the CPU per pass of this
process and of PostgreSQL's backend, the top functions by cumulative time, and with
``--statements`` each statement's mean wall time (PostgreSQL's run and the round trip).
At 200 leads/s with a 50 ms pass gap a pass finds about 10 leads (the paced phase of
bench/ingest_sustained.py).
"""

import argparse
import cProfile
import re
import time
from collections import defaultdict
from contextlib import nullcontext

from _common import backend_cpu_clock, profile_print, setup, tables_emptied


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=300)
    parser.add_argument("--per-pass", type=int, default=10)
    parser.add_argument("--profile", default="")
    parser.add_argument("--plain", action="store_true", help="no profiler")
    parser.add_argument(
        "--statements", action="store_true", help="each statement's mean wall time per pass"
    )
    args = parser.parse_args()
    setup("lb_bench_profile")
    from django.db import connection

    from leads.intake import lead_ingest_batch
    from leads.services import workspace_create
    from routing.models import RoutingRule, RuleDestination
    from routing.services import route_pending

    tables_emptied(connection, ["leads_lead", "leads_leadevent", "routing_routinglog"])
    workspace = workspace_create(name=f"profile routing {time.time()}")
    RoutingRule.objects.filter(name="profile: everyone").delete()
    rule = RoutingRule.objects.create(name="profile: everyone", priority=1)
    RuleDestination.objects.create(rule=rule, workspace=workspace)
    offset = int(time.time()) % 100_000 * 10

    def store(n: int) -> None:
        rows = [
            {"first_name": "P", "phone": f"+1312{200 + i // 10000 % 700:03d}{i % 10000:04d}"}
            for i in range(offset + n * args.per_pass, offset + (n + 1) * args.per_pass)
        ]
        lead_ingest_batch(workspace=workspace, rows=rows, announce=False)

    for n in range(20):  # warm up
        store(n)
        route_pending(worker_id="profile")
    backend_cpu = backend_cpu_clock(connection)

    took: dict[str, list[float]] = defaultdict(list)

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took[re.sub(r"\s+", " ", sql)[:120]].append(time.perf_counter() - started)

    profiler = cProfile.Profile()
    cpu = pg = wall = 0.0
    routed = 0
    for n in range(20, 20 + args.passes):
        store(n)
        cpu0, pg0, wall0 = time.process_time(), backend_cpu(), time.perf_counter()
        if not args.plain:
            profiler.enable()
        with connection.execute_wrapper(timed) if args.statements else nullcontext():
            routed += route_pending(worker_id="profile").claimed
        profiler.disable()
        cpu += time.process_time() - cpu0
        pg += backend_cpu() - pg0
        wall += time.perf_counter() - wall0
    per = 1000 / args.passes
    print(
        f"{args.passes} passes of {routed / args.passes:.1f} leads: {wall * per:.2f} ms wall, "
        f"{cpu * per:.2f} ms CPU in Django ({'without' if args.plain else 'with'} the "
        f"profiler's overhead), {pg * per:.2f} ms CPU in PostgreSQL, per pass"
    )
    for sql, times in sorted(took.items(), key=lambda item: -sum(item[1])):
        mean = sum(times) * 1000 / len(times)
        print(f"  {len(times) / args.passes:4.1f} x {mean:6.3f} ms  {sql}")
    if not args.plain:
        profile_print(profiler, args.profile)


if __name__ == "__main__":
    main()

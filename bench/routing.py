"""Routing speed: N pending leads, 50 active rules, W worker processes.

    .venv/bin/python bench/routing.py [--leads 100000] [--workers 2]

Prints leads/s end to end (first claim to last decision) and the decision latency
(routed_at - created_at) p50/p95 for leads that were pending when the workers started,
plus the same latency for a trickle of leads ingested while workers run.
"""

import argparse
import multiprocessing
import time

from _common import percentile, setup

SPAWN = multiprocessing.get_context("spawn")


def worker(n: int, env: dict) -> None:
    import os

    os.environ.update(env)
    import django

    django.setup()
    from routing.services import route_pending

    while route_pending(worker_id=f"bench{n}", batch_size=500).claimed:
        pass


def trickle_worker(stop_at: float, env: dict) -> None:
    import os

    os.environ.update(env)
    import django

    django.setup()
    from routing.services import route_pending

    while time.monotonic() < stop_at:
        if not route_pending(worker_id="trickle", batch_size=500).claimed:
            time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    env = setup("lb_bench_routing")

    from django.db import connection

    from leads.models import Lead
    from leads.services import workspace_create
    from routing.models import RoutingRule, RuleCondition, RuleDestination
    from routing.services import rules_version_bump

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE leads_lead, leads_leadevent, routing_routinglog, "
            "routing_capcounter, routing_retryitem"
        )
    RoutingRule.objects.all().delete()
    ws = [workspace_create(name=f"dest {time.time()} {i}") for i in range(5)]
    states = ["CA", "NY", "TX", "FL", "IL", "AZ", "WA", "OR", "NV", "CO"]
    for i in range(50):
        rule = RoutingRule.objects.create(
            name=f"rule {i}", priority=100 - i, distribution="round_robin"
        )
        RuleCondition.objects.create(rule=rule, field="state", operator="eq", value=states[i % 10])
        RuleCondition.objects.create(
            rule=rule, field="custom.score", operator="gt", value=str((i // 10) * 20)
        )
        for w in ws[:2]:
            RuleDestination.objects.create(rule=rule, workspace=w, cap_per_day=10_000_000)
    catch_all = RoutingRule.objects.create(name="catch all", priority=0)
    RuleDestination.objects.create(rule=catch_all, workspace=ws[4])
    rules_version_bump()

    print(f"inserting {args.leads:,} pending leads ...", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO leads_lead (workspace_id, created_at, updated_at, first_name, last_name,
              phone, email, company, industry, state, postal_code, timezone, source,
              external_id, custom, consent_text, consent_url, dedupe_hash, status,
              status_reason, locked_by, routing_attempts)
            SELECT %s, now(), now(), 'B', 'L' || g, '+1415' || lpad(g::text, 7, '0'), '', '',
              '', (ARRAY['CA','NY','TX','FL','IL','AZ','WA','OR','NV','CO'])[1 + g %% 10], '',
              'America/New_York', 'bench', '', jsonb_build_object('score', g %% 100), '', '',
              md5(g::text), 'pending', '', '', 0
            FROM generate_series(1, %s) g
            """,
            [ws[3].pk, args.leads],
        )
        cursor.execute("ANALYZE leads_lead")
    connection.close()

    started = time.perf_counter()
    procs = [SPAWN.Process(target=worker, args=(n, env)) for n in range(args.workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    routed = Lead.objects.filter(status="routed").count()
    print(
        f"backlog: {routed:,} of {args.leads:,} leads routed by {args.workers} workers "
        f"in {elapsed:.2f}s = {routed / elapsed:,.0f} leads/s"
    )

    # Latency from intake commit to routed while workers are idle-waiting (steady state).
    from leads.services import lead_ingest_batch

    connection.close()
    stop_at = time.monotonic() + 15
    procs = [SPAWN.Process(target=trickle_worker, args=(stop_at, env)) for _ in range(args.workers)]
    for p in procs:
        p.start()
    time.sleep(1)
    ids = []
    for k in range(100):
        rows = [
            {
                "phone": f"+1312{2000000 + k * 10 + j:07d}",
                "state": states[j],
                "custom": {"score": 50},
            }
            for j in range(10)
        ]
        ids += [r.id for r in lead_ingest_batch(workspace=ws[3], rows=rows)]
        time.sleep(0.1)
    for p in procs:
        p.join()
    latencies = [
        (routed_at - created_at).total_seconds() * 1000
        for created_at, routed_at in Lead.objects.filter(id__in=ids).values_list(
            "created_at", "routed_at"
        )
        if routed_at
    ]
    print(
        f"trickle: {len(latencies)} leads (100 batches of 10 over 10 s), decision latency "
        f"p50 {percentile(latencies, 0.5):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )


if __name__ == "__main__":
    main()

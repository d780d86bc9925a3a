"""Broadcast at the old system's breaking load: 1,000 leads on each of 3,000 devices.

    .venv/bin/python bench/broadcast.py [--devices 3000] [--per-device 1000]
        [--dispatch-seconds 300] [--dispatchers 2] [--latency 0.02 0.08] [--skip-enroll]

1. Setup (not timed): the leads are written with one INSERT ... SELECT generate_series.
2. Enrollment: one ``enrollment_create_many`` over all of them (ids streamed from the
   database), timed, with the peak RSS of this process and the pending-message count.
3. Due-work query: EXPLAIN ANALYZE of the dispatcher's claim query, all devices due.
4. Dispatch: N dispatcher processes against the gateway double (its own process, random
   latency) for ``--dispatch-seconds``; messages/s per 10-second bucket, and pacing
   violations counted from the sent timestamps (SQL) and from the gateway's arrival times.
"""

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path

from _common import percentile, setup

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DB = "lb_bench_broadcast"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve_gateway(conn, latency: tuple[float, float]) -> None:
    from simulators.gateway import GatewaySimulator

    double = GatewaySimulator(latency=latency).start()
    conn.send(double.url)
    while True:
        command = conn.recv()
        if command == "stop":
            break
        by_session = double.sends_by_session()
        conn.send({k: [s.at for s in v] for k, v in by_session.items()})


def dispatcher(seconds: float, env: dict) -> None:
    import os

    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from broadcast import services

    stats = services.dispatch_run(seconds=seconds)
    print(f"  dispatcher: {stats}", flush=True)


def make_leads(cursor, workspace_id: int, n: int) -> None:
    cursor.execute(
        "INSERT INTO leads_lead (created_at, updated_at, first_name, last_name, phone, email, "
        "company, industry, state, postal_code, timezone, source, external_id, custom, "
        "consent_text, consent_url, dedupe_hash, status, status_reason, locked_by, "
        "routing_attempts, workspace_id) "
        "SELECT now(), now(), 'Lead' || i, 'Bench', '+1' || (2125000000 + i)::text, '', "
        "'Acme ' || (i %% 100), '', 'NY', '10001', 'UTC', 'bench', '', "
        "jsonb_build_object('promo', 'P' || (i %% 50)), '', '', md5(i::text), 'routed', '', '', "
        "0, %s FROM generate_series(1, %s) i",
        [workspace_id, n],
    )


def lead_ids(batch: int = 10_000):
    from django.db import connection

    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM leads_lead WHERE id > %s AND source = 'bench' ORDER BY id LIMIT %s",
                [last, batch],
            )
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return
        yield from ids
        last = ids[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=3000)
    parser.add_argument("--per-device", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--dispatch-seconds", type=float, default=300.0)
    parser.add_argument("--dispatchers", type=int, default=2)
    parser.add_argument("--latency", type=float, nargs=2, default=(0.02, 0.08))
    parser.add_argument("--skip-enroll", action="store_true", help="reuse the last enrollment")
    args = parser.parse_args()
    env = setup(DB)

    import datetime as dt

    from django.db import connection, transaction

    from broadcast import services
    from broadcast.models import Device, Message, Sequence, Step
    from leads.models import Workspace

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    gateway = ctx.Process(target=serve_gateway, args=(child, tuple(args.latency)), daemon=True)
    gateway.start()
    gateway_url = parent.recv()
    total = args.devices * args.per_device

    if not args.skip_enroll:
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE broadcast_message, broadcast_enrollment, leads_lead, leads_leadevent, "
                "broadcast_step, broadcast_sequence_devices, broadcast_sequence, "
                "broadcast_device CASCADE"
            )
        workspace, _ = Workspace.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
        started = time.perf_counter()
        with connection.cursor() as cursor:
            make_leads(cursor, workspace.pk, total)
            cursor.execute("ANALYZE leads_lead")
        print(f"setup: {total:,} leads in {time.perf_counter() - started:.1f} s (not timed)")
        Device.objects.bulk_create(
            Device(
                workspace=workspace,
                name=f"device {i}",
                phone=f"+1555{i:07d}",
                gateway_url=gateway_url,
                gateway_session=f"s{i}",
                min_interval_seconds=args.interval,
                max_interval_seconds=args.interval,
                daily_cap=100_000,
            )
            for i in range(args.devices)
        )
        sequence = Sequence.objects.create(
            workspace=workspace,
            name="Bench drip",
            window_start=dt.time(0),
            window_end=dt.time(23, 59, 59),
            placeholder_defaults={"promo": "WELCOME"},
        )
        for position in range(1, 12):  # the old system's 11 messages
            template = f"Hi {{first_name}}, step {position}: {{promo}}"
            Step.objects.create(
                sequence=sequence,
                position=position,
                delay_minutes=0 if position == 1 else 60 * 24,
                template=template,
            )
        rss_before = rss_mb()
        started = time.perf_counter()
        result = services.enrollment_create_many(lead_ids=lead_ids(), sequence_id=sequence.pk)
        elapsed = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM broadcast_message WHERE status = 'pending'")
            pending = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM broadcast_enrollment")
            enrollments = cursor.fetchone()[0]
            cursor.execute("ANALYZE broadcast_message")
            cursor.execute("ANALYZE broadcast_enrollment")
            cursor.execute("ANALYZE broadcast_device")
        print(
            f"enroll: {result.created:,} enrollments in {elapsed:.1f} s = "
            f"{result.created / elapsed:,.0f}/s; skipped {dict(result.skipped)}"
        )
        print(
            f"enroll: peak RSS {rss_mb():.0f} MB (before enrolling {rss_before:.0f} MB); "
            f"{enrollments:,} enrollments, {pending:,} pending messages "
            f"(not {total * 11:,})"
        )
    else:
        Device.objects.update(
            gateway_url=gateway_url, next_send_at=dt.datetime.now(dt.UTC), lease_until=None
        )

    # The due-work query, every device due (EXPLAIN ANALYZE runs it, locks included).
    timings = []
    for _ in range(20):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + services.DUE_SQL,
                {
                    "horizon": dt.datetime.now(dt.UTC),
                    "limit": 200,
                    "pending": Message.Status.PENDING,
                    "active": Device.Status.ACTIVE,
                },
            )
            plan = cursor.fetchone()[0]
            timings.append(plan[0]["Execution Time"])
            transaction.set_rollback(True)
    print(
        f"due-work query (200 devices, {Sequence.objects.get().enrollments.count():,} active "
        f"enrollments): p50 {percentile(timings, 0.5):.2f} ms, "
        f"max {max(timings):.2f} ms"
    )
    connection.close()

    # Dispatch.
    start_wall = time.time()
    procs = [
        ctx.Process(target=dispatcher, args=(args.dispatch_seconds, env))
        for _ in range(args.dispatchers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    parent.send("arrivals")
    arrivals = parent.recv()
    parent.send("stop")
    end_wall = time.time()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), min(sent_at), max(sent_at) FROM broadcast_message "
            "WHERE sent_at >= to_timestamp(%s)",
            [start_wall],
        )
        sent, first, last = cursor.fetchone()
        cursor.execute(
            "SELECT floor(extract(epoch FROM sent_at - %s) / 10) b, count(*) "
            "FROM broadcast_message WHERE sent_at >= %s GROUP BY b ORDER BY b",
            [first, first],
        )
        buckets = [n / 10 for _, n in cursor.fetchall()]
        cursor.execute(
            "SELECT count(*) FILTER (WHERE gap < make_interval(secs => %s)), min(gap) FROM ("
            "  SELECT sent_at - lag(sent_at) OVER (PARTITION BY device_id ORDER BY sent_at) gap"
            "  FROM broadcast_message WHERE sent_at IS NOT NULL) g WHERE gap IS NOT NULL",
            [args.interval],
        )
        violations, min_gap = cursor.fetchone()
    steady = buckets[1:-1] or buckets
    gaps = [b - a for times in arrivals.values() for a, b in zip(times, times[1:], strict=False)]
    gateway_violations = sum(1 for g in gaps if g < args.interval)
    print(
        f"dispatch: {sent:,} sent in {(last - first).total_seconds():.1f} s by "
        f"{args.dispatchers} dispatcher processes = "
        f"{sent / max((last - first).total_seconds(), 1):,.1f} msg/s "
        f"(ceiling {args.devices / args.interval:,.0f}/s: {args.devices} devices / "
        f"{args.interval:g} s)"
    )
    print(
        f"dispatch: per 10 s bucket (steady state) min {min(steady):,.1f}, "
        f"p50 {percentile(steady, 0.5):,.1f}, max {max(steady):,.1f} msg/s"
    )
    print(
        f"pacing: {violations} violations in the sent timestamps (smallest gap {min_gap}); "
        f"{gateway_violations} in {len(gaps):,} gateway arrival gaps "
        f"(smallest {min(gaps) if gaps else 0:.4f} s)"
    )
    print(f"wall time of the dispatch phase: {end_wall - start_wall:.0f} s")


if __name__ == "__main__":
    main()

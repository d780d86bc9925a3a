"""Fills the admin-scale bench database: leads, events, routing logs, call logs,
enrollments, messages and outbox items at production volume, in SQL
(``INSERT ... SELECT generate_series``), with each table's secondary indexes dropped
during the load and built again after. Used by bench/admin_scale.py."""

import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

DAYS = 120  # the rows are spread over this many days up to now
WORKSPACES = 20
DEVICES_PER_WORKSPACE = 10
BASE = {"leads": 5_000_000, "events": 15_000_000, "calls": 2_000_000, "messages": 3_000_000}
TABLES = [
    "leads_lead",
    "leads_leadevent",
    "routing_routinglog",
    "calllogs_calllog",
    "broadcast_enrollment",
    "broadcast_message",
    "dialer_outboxitem",
]


def sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def scalar(statement: str, params: list | None = None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
        return row[0] if row else None


def step(label: str, statement: str, params: list | None = None) -> None:
    started = time.monotonic()
    sql(statement, params)
    print(f"  {label}: {time.monotonic() - started:.1f} s", flush=True)


def filled() -> dict | None:
    sql("CREATE TABLE IF NOT EXISTS bench_fill (sizes jsonb NOT NULL, filled_at timestamptz)")
    return scalar("SELECT sizes FROM bench_fill LIMIT 1")


def secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's indexes that back no constraint."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
            [table],
        )
        return [(name, ddl.replace(" ON ONLY ", " ON ")) for name, ddl in cursor.fetchall()]


def small_tables(now) -> dict:
    """Workspaces, people, VICIdial servers and lists, devices, sequences: the ids the big
    tables point at."""
    from broadcast.models import Device, Sequence, Step
    from core.roles import roles_upsert
    from dialer.models import ViciList, ViciServer
    from leads.models import Workspace
    from leads.services import member_create
    from routing.models import RoutingRule, RuleDestination

    roles_upsert()
    workspaces = [
        Workspace.objects.create(name=f"Bench team {n:02d}", slug=f"bench-{n:02d}")
        for n in range(WORKSPACES)
    ]
    servers = [
        ViciServer.objects.create(
            name=f"vici-{n}", api_url=f"http://127.0.0.1:9/{n}/", api_user="bench"
        )
        for n in range(2)
    ]
    lists = [
        ViciList.objects.create(
            server=servers[n % 2], workspace=w, list_id=10_000 + n, name=f"list {n}"
        )
        for n, w in enumerate(workspaces)
    ]
    devices, sequences = [], []
    for n, w in enumerate(workspaces):
        for d in range(DEVICES_PER_WORKSPACE):
            devices.append(
                Device.objects.create(
                    workspace=w,
                    name=f"dev {n}-{d}",
                    phone=f"+1555{n:03d}{d:04d}",
                    gateway_url="http://127.0.0.1:9/",
                    gateway_session=f"s{n}-{d}",
                    status="active" if d else "paused",
                )
            )
        sequence = Sequence.objects.create(workspace=w, name=f"drip {n}")
        Step.objects.create(sequence=sequence, position=1, template="Hi {first_name}")
        sequences.append(sequence)
        rule = RoutingRule.objects.create(name=f"rule {n}", priority=n)
        rule.workspaces.set([w])
        RuleDestination.objects.create(
            rule=rule, workspace=w, vici_list=lists[n], cap_per_day=5000, cap_per_hour=500
        )
    user_model = get_user_model()
    user_model.objects.create_superuser("bench-admin", "a@example.com", "bench-Secret-1")
    member_create(
        username="bench-manager", workspace=workspaces[0], role="manager", password="pw-Secret-1"
    )
    return {
        "ws": [w.pk for w in workspaces],
        "servers": [s.pk for s in servers],
        "lists": [v.pk for v in lists],
        "list_numbers": [v.list_id for v in lists],
        "devices": [d.pk for d in devices],
        "sequences": [s.pk for s in sequences],
    }


def fill(scale: float) -> dict:
    from core.partitions import add_months, month_start, partition_ensure, partitioned_models

    sizes = {name: max(1000, int(n * scale)) for name, n in BASE.items()}
    now = timezone.now()
    for model in partitioned_models():
        partition_ensure(model, start=add_months(month_start(now), -5), months=9)
    ids = small_tables(now)
    dropped = {table: secondary_indexes(table) for table in TABLES}
    for indexes in dropped.values():
        for name, _ in indexes:
            sql(f'DROP INDEX IF EXISTS "{name}"')
    sql("SET synchronous_commit = off")
    sql("SET maintenance_work_mem = '256MB'")
    leads, events, calls, messages = (
        sizes["leads"],
        sizes["events"],
        sizes["calls"],
        sizes["messages"],
    )
    span = DAYS * 86400.0
    p = {
        "now": now,
        "n": leads,
        "ws": ids["ws"],
        "w": len(ids["ws"]),
        "span": span,
    }
    print(f"filling {sizes} over {DAYS} days", flush=True)
    # Lead i (1..n) arrived at now - (n - i) * span / n; events, routing logs and
    # enrollments compute the same time from their lead's number.
    lead_time = "(%(now)s::timestamptz - ((%(n)s - {i}) * %(span)s / %(n)s) * interval '1 second')"
    # Lead i's workspace and destination (as the leads' insert below computes them): the
    # copy of its scope on its events and routing log rows, given so the insert triggers
    # (leads 0011, routing 0005) skip their lookup of the lead.
    lead_scope = (
        "(%(ws)s::bigint[])[1 + {i} %% %(w)s], "
        "CASE WHEN {i} %% 20 > 2 THEN (%(ws)s::bigint[])[1 + {i} %% %(w)s] END"
    )
    step(
        "leads",
        f"""INSERT INTO leads_lead (id, workspace_id, created_at, updated_at, first_name,
        last_name, phone, email, company, industry, state, postal_code, timezone, source,
        external_id, custom, consent_text, consent_url, dedupe_hash, status, status_reason,
        locked_by, routing_attempts, routed_at, destination_workspace_id, routing_rule_id)
        SELECT i, (%(ws)s::bigint[])[1 + i %% %(w)s], t, t,
          (ARRAY['Ana','Ben','Carla','Dev','Eve','Finn','Gia','Hal'])[1 + i %% 8],
          (ARRAY['Smith','Garcia','Lee','Brown','Khan','Rossi'])[1 + i %% 6],
          '+1213' || lpad((i %% 10000000)::text, 7, '0'), 'l' || i || '@example.com',
          '', '', (ARRAY['CA','TX','NY','FL','WA'])[1 + i %% 5], '', 'America/Los_Angeles',
          (ARRAY['fb','google','tiktok','partner-a','web'])[1 + i %% 5], '', '{{}}', '', '',
          md5(i::text),
          CASE WHEN i %% 20 = 0 THEN 'unrouted' WHEN i %% 20 = 1 THEN 'suppressed'
               WHEN i %% 20 = 2 THEN 'failed' WHEN i %% 10 IN (3, 4) THEN 'contacted'
               WHEN %(n)s - i < 200 THEN 'pending' ELSE 'routed' END,
          '', '', 1, t + interval '1 second',
          CASE WHEN i %% 20 > 2 THEN (%(ws)s::bigint[])[1 + i %% %(w)s] END,
          CASE WHEN i %% 20 > 2 THEN 1 + i %% %(w)s END
        FROM (SELECT i, {lead_time.format(i="i")} AS t
              FROM generate_series(1, %(n)s) i) s""",
        p,
    )
    sql("SELECT setval(pg_get_serial_sequence('leads_lead', 'id'), %s)", [leads])
    step(
        "events",
        f"""INSERT INTO leads_leadevent (lead_id, created_at, kind, message, data, actor,
        lead_workspace_id, lead_destination_id)
        SELECT l, {lead_time.format(i="l")} + (j %% 3) * interval '1 second',
          (ARRAY['created','routed','pushed','called','dispositioned','message_sent',
                 'duplicate_received','note'])[CASE WHEN j %% 3 = 0 THEN 1
                 ELSE 2 + (j / 3) %% 7 END],
          'bench event', '{{}}', 'bench', {lead_scope.format(i="l")}
        FROM (SELECT j, 1 + (j * %(n)s::bigint / %(e)s) %% %(n)s AS l
              FROM generate_series(0, %(e)s - 1) j) s""",
        {**p, "e": events},
    )
    step(
        "routing log",
        f"""INSERT INTO routing_routinglog (created_at, lead_id, rule_id, rule_name,
        destination_workspace_id, outcome, reason, duration_ms, worker, lead_workspace_id,
        lead_destination_id)
        SELECT {lead_time.format(i="i")} + interval '1 second', i, 1 + i %% %(w)s,
          'rule ' || (i %% %(w)s), (%(ws)s::bigint[])[1 + i %% %(w)s],
          CASE WHEN i %% 20 = 0 THEN 'unrouted' ELSE 'routed' END, '', 1.5, 'bench',
          {lead_scope.format(i="i")}
        FROM generate_series(1, %(n)s) i""",
        p,
    )
    step(
        "call logs",
        """INSERT INTO calllogs_calllog (server_id, uniqueid, call_time, lead_id, lead_match,
        vici_lead_id, phone, list_id, campaign, agent, status, status_rank, talk_seconds,
        term_reason, call_id, recording_url, direction, paths, created_at, updated_at)
        SELECT (%(servers)s::bigint[])[1 + (k %% %(w)s) %% 2], k || '.1', t,
          1 + (k * 5 / 2) %% %(n)s, 3, k, '+1213' || lpad((k %% 10000000)::text, 7, '0'),
          (%(list_numbers)s::bigint[])[1 + k %% %(w)s], 'CAMP', 'agent' || (k %% 50),
          (ARRAY['SALE','NA','B','A','DNC','NI','CALLBK','DROP','N','AA'])[1 + k %% 10],
          1, (k %% 300), '', '', '', 'out', 1, t, t
        FROM (SELECT k, %(now)s::timestamptz - ((%(c)s - k) * %(span)s / %(c)s)
                        * interval '1 second' AS t
              FROM generate_series(1, %(c)s) k) s""",
        {**p, "c": calls, **ids},
    )
    enrollments = max(1, messages // 3)
    step(
        "enrollments",
        f"""INSERT INTO broadcast_enrollment (id, sequence_id, lead_id, device_id, workspace_id,
        phone, timezone, current_step, status, reason, created_at, updated_at)
        SELECT e, (%(sequences)s::bigint[])[1 + l %% %(w)s], l,
          (%(devices)s::bigint[])[1 + (l %% %(w)s) * {DEVICES_PER_WORKSPACE}
                                     + (e / %(w)s) %% {DEVICES_PER_WORKSPACE}],
          (%(ws)s::bigint[])[1 + l %% %(w)s], '+1213' || lpad((l %% 10000000)::text, 7, '0'),
          'America/Los_Angeles', 3, CASE WHEN e %% 4 = 0 THEN 'active' ELSE 'completed' END,
          '', {lead_time.format(i="l")}, {lead_time.format(i="l")}
        FROM (SELECT e, 1 + ((e - 1) * %(n)s::bigint / %(en)s) AS l
              FROM generate_series(1, %(en)s) e) s""",
        {**p, "en": enrollments, **ids},
    )
    sql("SELECT setval(pg_get_serial_sequence('broadcast_enrollment', 'id'), %s)", [enrollments])
    step(
        "messages",
        f"""INSERT INTO broadcast_message (scheduled_at, enrollment_id, step, device_id, lead_id,
        body, media_url, status, attempts, sent_at, gateway_id, error, created_at)
        SELECT t, e, 1 + m %% 3,
          (%(devices)s::bigint[])[1 + (l %% %(w)s) * {DEVICES_PER_WORKSPACE}
                                     + (e / %(w)s) %% {DEVICES_PER_WORKSPACE}], l,
          'Hi there', '', CASE WHEN m %% 50 = 0 THEN 'failed' ELSE 'delivered' END, 1,
          CASE WHEN m %% 50 = 0 THEN NULL ELSE t + interval '2 seconds' END,
          'gw' || m, '', t
        FROM (SELECT m, 1 + m / 3 AS e, 1 + ((m / 3) * %(n)s::bigint / %(en)s) AS l,
                     {lead_time.format(i="(1 + ((m / 3) * %(n)s::bigint / %(en)s))")}
                       + (m %% 3) * interval '1 day' AS t
              FROM generate_series(0, %(msgs)s - 1) m) s
        WHERE t <= %(now)s""",
        {**p, "en": enrollments, "msgs": messages, **ids},
    )
    outbox = leads // 5
    step(
        "outbox",
        f"""INSERT INTO dialer_outboxitem (lead_id, server_id, vici_list_id, operation, payload,
        state, attempts, next_attempt_at, vici_lead_id, last_response, last_error, created_at,
        updated_at, sent_at)
        SELECT l, (%(servers)s::bigint[])[1 + (l %% %(w)s) %% 2],
          (%(lists)s::bigint[])[1 + l %% %(w)s], 'add', '{{}}',
          CASE WHEN o %% 500 = 0 THEN 'failed' WHEN o %% 997 = 0 THEN 'dead'
               WHEN %(o)s - o < 50 THEN 'pending' ELSE 'sent' END,
          1, t, l, 'SUCCESS', '', t, t,
          CASE WHEN o %% 500 <> 0 AND o %% 997 <> 0 AND %(o)s - o >= 50 THEN t END
        FROM (SELECT o, 1 + ((o - 1) * %(n)s::bigint / %(o)s) AS l,
                     {lead_time.format(i="(1 + ((o - 1) * %(n)s::bigint / %(o)s))")}
                       + interval '3 seconds' AS t
              FROM generate_series(1, %(o)s) o) s""",
        {**p, "o": outbox, **ids},
    )
    step(
        "intake counts",
        """INSERT INTO leads_intakecount (workspace_id, hour, created, duplicate, suppressed,
        rejected)
        SELECT workspace_id, date_trunc('hour', created_at), count(*), count(*) / 10,
          count(*) FILTER (WHERE status = 'suppressed'), count(*) / 50
        FROM leads_lead GROUP BY 1, 2""",
    )
    step(
        "retry queue",
        """INSERT INTO routing_retryitem (lead_id, attempts, next_retry_at, last_error,
        is_dead, created_at, updated_at)
        SELECT i * 97, 1 + i %% 5, %(now)s::timestamptz + i * interval '1 minute',
          'database timeout', i %% 5 = 0, %(now)s, %(now)s
        FROM generate_series(1, 500) i""",
        p,
    )
    for indexes in dropped.values():
        for name, ddl in indexes:
            step(f"index {name}", ddl)
    for table in [*TABLES, "leads_intakecount", "routing_retryitem"]:
        step(f"vacuum analyze {table}", f"VACUUM (ANALYZE) {table}")
    sql("INSERT INTO bench_fill VALUES (%s, now())", [__import__("json").dumps(sizes)])
    return sizes


def recent(hours: int = 24):
    return timezone.now() - timedelta(hours=hours)

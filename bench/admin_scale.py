"""The admin at production volume: every changelist (plain, each filter, each sortable
column, its last page link) and the manager dashboard (the admin's first page) timed in
process (Django's test client: the view, its SQL and the template, no HTTP), as a
superuser and as a manager of one of 20 workspaces (each changelist and its last page);
each figure is the median of ``--runs`` after a warm-up, with the time spent in SQL beside
it.

.venv/bin/python bench/admin_scale.py [--scale 1.0] [--runs 3] [--database lb_bench_admin]

Scale 1.0 is 5,000,000 leads, 15,000,000 lead events, 5,000,000 routing log rows,
2,000,000 call logs, 3,000,000 messages (1,000,000 enrollments) and 1,000,000 outbox
items, spread over 120 days; the database is filled once and reused (a different
``--scale`` needs another ``--database``). Figures print beside two references from the
same run: a bare ``SELECT 1`` round trip and a trivial admin page (the 4 groups), which
shows what rendering any admin page costs on the machine at that moment. Target: every
page under 300 ms.
"""

import argparse
import re
import statistics
import time
from html import unescape

from _common import setup

TARGET_MS = 300


def _connection_timeout(sender, connection, **kwargs) -> None:
    with connection.cursor() as cursor:  # a runaway query is reported, not waited for
        cursor.execute("SET statement_timeout = '20s'")


def client_for(username: str):
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client


def measure(client, url: str) -> tuple[float, float, int, int, str]:
    """(total ms, ms in SQL, queries, status, body) of one GET, in process."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    # The query log keeps 9,000 entries; past them the capture's start and end indexes
    # meet and a page would show no SQL.
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        try:
            response = client.get(url)
            status, body = response.status_code, response.content.decode(errors="replace")
        except Exception as exc:  # noqa: BLE001 - a timeout is a figure too
            status, body = 599, repr(exc)
        total = (time.perf_counter() - started) * 1000
    sql = sum(float(q["time"]) for q in queries.captured_queries) * 1000
    return total, sql, len(queries.captured_queries), status, body


def timed(client, url: str, runs: int, before=None) -> tuple[float, float, int, int, str]:
    """The median run of ``runs`` after a warm-up (``before`` runs ahead of each)."""
    first = measure(client, url)
    if first[3] in (403, 599):
        return first
    samples = []
    for _ in range(runs):
        if before:
            before()
        samples.append(measure(client, url))
    samples.sort(key=lambda s: s[0])
    return samples[len(samples) // 2]


def variants(html: str, base: str) -> list[tuple[str, str]]:
    """The changelist's own links: the first choice of each filter, each sortable column
    both ways, and the last page."""
    found: list[tuple[str, str]] = []
    filters = html.split('id="changelist-filter"', 1)
    if len(filters) == 2:
        for group in filters[1].split("<details")[1:]:
            links = re.findall(r'<li>\s*<a href="(\?[^"]+)"', group)
            if links:
                found.append(("filter", unescape(links[0])))
    for link in sorted(set(re.findall(r'class="text"><a href="(\?o=[^"]+)"', html))):
        found.append(("sort", unescape(link)))
        found.append(("sort desc", unescape(link).replace("o=", "o=-", 1)))
    pages = [int(p) for p in re.findall(r'href="\?p=(\d+)"', html)]
    if pages:
        found.append(("last page", f"?p={max(pages)}"))
    return [(label, base + query) for label, query in found]


def changelists() -> list[tuple[str, str]]:
    from django.contrib import admin
    from django.urls import reverse

    result = []
    for model in admin.site._registry:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
        result.append((model._meta.label, reverse(name)))
    return sorted(result)


def select_one_ms() -> float:
    from django.db import connection

    samples = []
    with connection.cursor() as cursor:
        for _ in range(50):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def report(label: str, url: str, figures: tuple, rows: list) -> None:
    total, sql, queries, status, _ = figures
    flag = "" if total < TARGET_MS else "  <-- over target"
    rows.append((label, url, total, sql, queries, status))
    print(f"{total:7.1f} {sql:7.1f} {queries:3d}  {status}  {label:40} {url}{flag}", flush=True)


def forget_dashboard() -> None:
    from django.core.cache import cache

    cache.delete_pattern("dashboard:*")


def forget_dashboard_and_probes() -> None:
    from django.core.cache import cache

    from core.selectors import SNAPSHOT_KEY

    forget_dashboard()
    cache.delete(SNAPSHOT_KEY)


def run(who: str, runs: int, rows: list) -> None:
    client = client_for(who)
    for label, before in (
        ("cold: figures and /health probes", forget_dashboard_and_probes),
        ("cold: figures", forget_dashboard),
        ("cached", None),
    ):
        report(
            f"dashboard ({who}, {label})", "/admin/", timed(client, "/admin/", runs, before), rows
        )
    for label, path in changelists():
        figures = timed(client, path, runs)
        if figures[3] == 403:
            continue  # not this person's page
        report(f"{label} ({who})", path, figures, rows)
        if figures[3] != 200:
            continue
        for kind, url in variants(figures[4], path):
            if who == "bench-admin" or kind == "last page":  # managers: their deepest page
                report(f"{label} {kind} ({who})", url, timed(client, url, runs), rows)


def second_manager() -> None:
    """bench-manager's workspace (bench-00) has leads and events but, by the fill's
    arithmetic, no calls, messages or outbox items: the worst case of a lead-owned list,
    whose newest-first walk finds nothing in scope. bench-manager-01 manages bench-01,
    which has its share of every table."""
    from django.contrib.auth import get_user_model

    from leads.models import Workspace
    from leads.services import member_create

    if not get_user_model().objects.filter(username="bench-manager-01").exists():
        member_create(
            username="bench-manager-01",
            workspace=Workspace.objects.get(slug="bench-01"),
            role="manager",
            password="pw-Secret-1",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", default="lb_bench_admin")
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument("--who", default="bench-admin,bench-manager,bench-manager-01")
    args = parser.parse_args()
    setup(args.database)
    import admin_fill

    sizes = admin_fill.filled()
    if sizes is None:
        started = time.monotonic()
        sizes = admin_fill.fill(args.scale)
        print(f"filled in {time.monotonic() - started:.0f} s", flush=True)
    print(f"database {args.database}: {sizes}")
    if args.fill_only:
        return
    second_manager()
    import logging

    from django.db import connection
    from django.db.backends.signals import connection_created

    logging.disable(logging.WARNING)  # 403s of pages a manager may not open
    connection_created.connect(_connection_timeout)
    connection.close()
    reference = timed(client_for("bench-admin"), "/admin/auth/group/", max(args.runs, 5))
    print(
        f"references: SELECT 1 round trip {select_one_ms():.2f} ms; a trivial admin page "
        f"(/admin/auth/group/, 4 rows) {reference[0]:.1f} ms ({reference[1]:.1f} ms SQL)"
    )
    print(f"{'ms':>7} {'SQL ms':>7} {'q':>3}  code page")
    rows: list = []
    for who in args.who.split(","):
        run(who, args.runs, rows)
    over = [r for r in rows if r[2] >= TARGET_MS]
    print(f"{len(rows)} pages, {len(over)} over {TARGET_MS} ms (median of {args.runs} runs)")
    for row in over:
        print(f"  over: {row[2]:.0f} ms ({row[3]:.0f} ms SQL) {row[0]} {row[1]}")


if __name__ == "__main__":
    main()

"""The admin at production volume: every changelist (plain, each filter, each sortable
column, its last page link) and the manager dashboard (the admin's first page) timed over
HTTP against gunicorn, as a superuser and as a manager of one of 20 workspaces.

.venv/bin/python bench/admin_scale.py [--scale 1.0] [--runs 3] [--database lb_bench_admin]

Scale 1.0 is 5,000,000 leads, 15,000,000 lead events, 5,000,000 routing log rows,
2,000,000 call logs, 3,000,000 messages (1,000,000 enrollments) and 1,000,000 outbox
items, spread over 120 days; the database is filled once and reused (a different
``--scale`` needs another ``--database``). Figures print beside two references from the
same run: a bare ``SELECT 1`` round trip and the anonymous ``/health`` view. Target: every
page under 300 ms.
"""

import argparse
import re
import statistics
import time
from html import unescape
from importlib import import_module

import requests
from _common import serve, setup

TARGET_MS = 300


def session_cookie(username: str) -> tuple[str, str]:
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )

    user = get_user_model().objects.get(username=username)
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return settings.SESSION_COOKIE_NAME, store.session_key


def timed(http: requests.Session, url: str, runs: int) -> tuple[float, float, int]:
    http.get(url)  # warm: connections, caches of the process (not the dashboard's: see below)
    samples, status = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        response = http.get(url, allow_redirects=False)
        samples.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    return statistics.median(samples), max(samples), status


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


def references(base: str, runs: int) -> dict[str, float]:
    from django.db import connection

    samples = []
    with connection.cursor() as cursor:
        for _ in range(max(runs, 20)):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            samples.append((time.perf_counter() - started) * 1000)
    health, _, _ = timed(requests.Session(), f"{base}/health", max(runs, 20))
    return {"select1": statistics.median(samples), "health": health}


def report(label: str, url: str, figures: tuple[float, float, int], rows: list) -> None:
    median, worst, status = figures
    flag = "" if median < TARGET_MS else "  <-- over target"
    rows.append((label, url, median, worst, status))
    print(f"{median:8.1f} {worst:8.1f}  {status}  {label:38} {url}{flag}", flush=True)


def dashboard(http: requests.Session, base: str, who: str, runs: int, rows: list) -> None:
    from django.core.cache import cache

    cold = []
    for _ in range(runs):
        cache.delete_pattern("dashboard:*")
        started = time.perf_counter()
        status = http.get(f"{base}/admin/").status_code
        cold.append((time.perf_counter() - started) * 1000)
    report(
        f"dashboard ({who}, cold cache)",
        "/admin/",
        (statistics.median(cold), max(cold), status),
        rows,
    )
    report(f"dashboard ({who}, cached)", "/admin/", timed(http, f"{base}/admin/", runs), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", default="lb_bench_admin")
    parser.add_argument("--fill-only", action="store_true")
    args = parser.parse_args()
    env = setup(args.database)
    import admin_fill

    sizes = admin_fill.filled()
    if sizes is None:
        started = time.monotonic()
        sizes = admin_fill.fill(args.scale)
        print(f"filled in {time.monotonic() - started:.0f} s", flush=True)
    print(f"database {args.database}: {sizes}")
    if args.fill_only:
        return
    proc, base = serve(env, workers=1)
    try:
        refs = references(base, args.runs)
        print(
            f"references: SELECT 1 round trip {refs['select1']:.2f} ms; "
            f"GET /health (anonymous) {refs['health']:.1f} ms"
        )
        print(f"{'median':>8} {'max':>8}  code page")
        rows: list = []
        for who in ("bench-admin", "bench-manager"):
            http = requests.Session()
            http.cookies.set(*session_cookie(who))
            dashboard(http, base, who, args.runs, rows)
            for label, path in changelists():
                figures = timed(http, base + path, args.runs)
                if figures[2] == 403:
                    continue  # not this person's page
                report(f"{label} ({who})", path, figures, rows)
                if who != "bench-admin":
                    continue
                html = http.get(base + path).text
                for kind, url in variants(html, path):
                    report(f"{label} {kind}", url, timed(http, base + url, args.runs), rows)
        over = [r for r in rows if r[2] >= TARGET_MS]
        print(f"{len(rows)} pages, {len(over)} over {TARGET_MS} ms (median of {args.runs})")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()

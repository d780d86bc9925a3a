"""/health: green / yellow / red per the runbook thresholds (settings.HEALTH_THRESHOLDS).

The probes (counts over queues of millions of rows) run at most once per
``PROBE_CACHE_SECONDS`` across every process: the first caller takes a Redis lock and
computes, the others wait for it and read its snapshot from the cache.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django_redis import get_redis_connection
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from core.middleware import LATENCY_KEY

logger = logging.getLogger(__name__)

SNAPSHOT_KEY = "health:probes"
SNAPSHOT_LOCK = "health:probes:lock"
# A probe run longer than this (a stuck query) no longer holds the others back.
LOCK_SECONDS = 60

# Apps register metric probes here (name -> callable returning a number).
METRIC_PROBES: dict[str, Callable[[], float]] = {}
# Queue-depth probes (name -> callable); their sum is compared with the queue threshold.
QUEUE_PROBES: dict[str, Callable[[], int]] = {}


def register_metric(name: str, probe: Callable[[], float]) -> None:
    METRIC_PROBES[name] = probe


def register_queue(name: str, probe: Callable[[], int]) -> None:
    QUEUE_PROBES[name] = probe


def grade(value: float, thresholds: tuple[float, float]) -> str:
    yellow, red = thresholds
    if value > red:
        return "red"
    if value >= yellow:
        return "yellow"
    return "green"


def grade_low(value: float, thresholds: tuple[float, float]) -> str:
    """For rates where lower is worse: red below the second, yellow below the first."""
    yellow, red = thresholds
    if value < red:
        return "red"
    if value < yellow:
        return "yellow"
    return "green"


def _worst(colours: list[str]) -> str:
    for colour in ("red", "yellow"):
        if colour in colours:
            return colour
    return "green"


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - reported, not raised
        return False


def redis_ok() -> bool:
    try:
        return bool(get_redis_connection("default").ping())
    except Exception:  # noqa: BLE001 - reported, not raised
        return False


def database_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def api_p95_ms() -> float:
    try:
        client = get_redis_connection("default", write=False)
        samples = sorted(float(v) for v in client.lrange(cache.make_key(LATENCY_KEY), 0, -1))
    except Exception:  # noqa: BLE001
        return 0.0
    if not samples:
        return 0.0
    return samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def probes_compute() -> dict[str, Any]:
    """Run every probe now: database size, metric probes and queue depths."""
    return {
        "computed_at": timezone.now().isoformat(),
        "database_bytes": database_bytes(),
        "metrics": {name: probe() for name, probe in METRIC_PROBES.items()},
        "queues": {name: probe() for name, probe in QUEUE_PROBES.items()},
    }


def _fresh(snapshot: dict[str, Any] | None) -> bool:
    if not snapshot:
        return False
    age = timezone.now() - datetime.fromisoformat(snapshot["computed_at"])
    return bool(0 <= age.total_seconds() < settings.PROBE_CACHE_SECONDS)


def _snapshot_cached() -> dict[str, Any]:
    snapshot: dict[str, Any] | None = cache.get(SNAPSHOT_KEY)
    if snapshot and _fresh(snapshot):
        return snapshot
    lock = cache.lock(  # type: ignore[attr-defined]  # django-redis
        SNAPSHOT_LOCK, timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS
    )
    with lock:
        snapshot = cache.get(SNAPSHOT_KEY)  # computed while this one waited for the lock?
        if snapshot and _fresh(snapshot):
            return snapshot
        snapshot = probes_compute()
        cache.set(SNAPSHOT_KEY, snapshot, settings.PROBE_CACHE_SECONDS * 10)
        return snapshot


def probe_snapshot() -> dict[str, Any]:
    """The probes' values, computed at most once per window across processes."""
    try:
        return _snapshot_cached()
    except (ConnectionInterrupted, RedisError):  # Redis down: answer, uncached
        logger.warning("probe cache unavailable; computing uncached", exc_info=True)
        return probes_compute()


def liveness() -> dict[str, Any]:
    """The anonymous answer: the process, its database and Redis answer (no counts)."""
    up = database_ok() and redis_ok()
    return {"status": "ok" if up else "down"}


def health_report() -> dict[str, Any]:
    thresholds = settings.HEALTH_THRESHOLDS
    db_up = database_ok()
    redis_up = redis_ok()
    metrics: dict[str, dict[str, Any]] = {}

    low = settings.HEALTH_THRESHOLDS_LOW

    def add(name: str, value: float, key: str) -> None:
        if key in low:  # lower is worse (success and lock rates)
            metrics[name] = {
                "value": value,
                "status": grade_low(value, low[key]),
                "thresholds": list(low[key]),
                "lower_is_worse": True,
            }
            return
        if key not in thresholds:  # reported, not graded
            metrics[name] = {"value": value, "status": "info"}
            return
        metrics[name] = {
            "value": value,
            "status": grade(value, thresholds[key]),
            "thresholds": list(thresholds[key]),
        }

    if db_up:
        snapshot = probe_snapshot()
        add("database_bytes", snapshot["database_bytes"], "database_bytes")
        for name, value in snapshot["metrics"].items():
            add(name, value, name)
        for name, depth in snapshot["queues"].items():
            own = f"queue_{name}"  # a queue with a threshold of its own (the retry queue)
            add(own, depth, own if own in thresholds else "queue_depth")
    add("api_p95_ms", api_p95_ms(), "api_p95_ms")
    dependencies = {"database": db_up, "redis": redis_up}
    colours = [m["status"] for m in metrics.values()]
    if not all(dependencies.values()):
        colours.append("red")
    return {
        "status": _worst(colours),
        "computed_at": snapshot["computed_at"] if db_up else None,
        "dependencies": dependencies,
        "dependencies_down": [name for name, ok in dependencies.items() if not ok],
        "metrics": metrics,
    }


def dashboard_health(window: Any) -> dict[str, Any]:
    """The dashboard's /health panel: the grade and why (every metric not green, and any
    dependency down), from the probes' shared snapshot."""
    report = health_report()
    reasons = [f"{name} is down" for name in report["dependencies_down"]]
    for name, metric in sorted(report["metrics"].items()):
        if metric["status"] in ("yellow", "red"):
            yellow, red = metric["thresholds"]
            reasons.append(
                f"{name.replace('_', ' ')} is {metric['value']:,.0f} "
                f"(yellow from {yellow:,.0f}, red above {red:,.0f})"
            )
    return {
        "grade": report["status"],
        "reasons": reasons,
        "computed_at": report["computed_at"],
        "top": True,  # shown beside "Needs a person", above the other panels
    }

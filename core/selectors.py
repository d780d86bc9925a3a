"""/health: green / yellow / red per the runbook thresholds (settings.HEALTH_THRESHOLDS)."""

from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from core.middleware import LATENCY_KEY

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
        return bool(cache.client.get_client(write=True).ping())
    except Exception:  # noqa: BLE001 - reported, not raised
        return False


def database_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def api_p95_ms() -> float:
    try:
        client = cache.client.get_client(write=False)
        samples = sorted(float(v) for v in client.lrange(cache.make_key(LATENCY_KEY), 0, -1))
    except Exception:  # noqa: BLE001
        return 0.0
    if not samples:
        return 0.0
    return samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def health_report() -> dict:
    thresholds = settings.HEALTH_THRESHOLDS
    db_up = database_ok()
    redis_up = redis_ok()
    metrics: dict[str, dict] = {}

    def add(name: str, value: float, key: str) -> None:
        if key not in thresholds:  # reported, not graded
            metrics[name] = {"value": value, "status": "info"}
            return
        metrics[name] = {
            "value": value,
            "status": grade(value, thresholds[key]),
            "thresholds": list(thresholds[key]),
        }

    if db_up:
        add("database_bytes", database_bytes(), "database_bytes")
        for name, probe in METRIC_PROBES.items():
            add(name, probe(), name)
        queues = {name: probe() for name, probe in QUEUE_PROBES.items()}
        for name, depth in queues.items():
            add(f"queue_{name}", depth, "queue_depth")
    add("api_p95_ms", api_p95_ms(), "api_p95_ms")
    dependencies = {"database": db_up, "redis": redis_up}
    colours = [m["status"] for m in metrics.values()]
    if not all(dependencies.values()):
        colours.append("red")
    return {
        "status": _worst(colours),
        "dependencies": dependencies,
        "dependencies_down": [name for name, ok in dependencies.items() if not ok],
        "metrics": metrics,
    }

"""CPU and memory of the host and of each Leadbrain process type (web, worker, beat) for
/metrics, read with psutil from the host that serves the scrape.

A process's type comes from its command line: gunicorn (or runserver) is ``web``, a Celery
worker ``worker``, Celery beat ``beat``. CPU is exported as seconds (a counter: rate() gives
the cores used); a process that exits takes its seconds with it, which Prometheus reads as
a counter reset. Run one scrape target per host to see every host.
"""

from collections import defaultdict
from typing import Any

import psutil

KINDS = ("web", "worker", "beat")


def process_kind(cmdline: list[str]) -> str | None:
    words = [part.rsplit("/", 1)[-1] for part in cmdline]
    text = " ".join(words)
    if "celery" in text:
        if "beat" in words:
            return "beat"
        if "worker" in words:
            return "worker"
        return None
    if "gunicorn" in text or "runserver" in words:
        return "web"
    return None


def process_stats() -> dict[str, dict[str, float]]:
    """Per type: processes, CPU seconds (user + system) and resident memory."""
    stats: dict[str, dict[str, float]] = {kind: defaultdict(float) for kind in KINDS}
    for proc in psutil.process_iter(["cmdline", "cpu_times", "memory_info"]):
        info: dict[str, Any] = proc.info
        kind = process_kind(info.get("cmdline") or [])
        if kind is None or info.get("cpu_times") is None or info.get("memory_info") is None:
            continue
        stats[kind]["processes"] += 1
        stats[kind]["cpu_seconds"] += info["cpu_times"].user + info["cpu_times"].system
        stats[kind]["rss_bytes"] += info["memory_info"].rss
    return {kind: dict(values) for kind, values in stats.items()}


def host_stats() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    times = psutil.cpu_times()
    return {
        "cpu_count": psutil.cpu_count() or 1,
        "cpu_percent": psutil.cpu_percent(interval=None),  # since the previous scrape
        "cpu_seconds": {"user": times.user, "system": times.system, "idle": times.idle},
        "load1": psutil.getloadavg()[0],
        "memory_total_bytes": memory.total,
        "memory_available_bytes": memory.available,
    }

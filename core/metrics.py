"""Domain figures on /metrics: every probe registered for /health (queue depths, leads/day,
SLO rates and p95s, read from the same cached snapshot as /health), the SLO counters and
histograms the workers keep in Redis (``core.slo``), and the CPU and memory of the host and
of each process type (``core.procstats``)."""

import logging
import math
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, Collector

from core import procstats, slo
from core.selectors import probe_snapshot

logger = logging.getLogger(__name__)


def _le(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(value)


def slo_families() -> Iterator[Metric]:
    """Every declared SLO series, with the values written so far (none: no sample)."""
    for series in slo.SERIES.values():
        labels = [series.label] if series.label else []
        name = f"leadbrain_{series.name}"
        if series.kind == "counter":
            counter = CounterMetricFamily(name.removesuffix("_total"), series.help, labels=labels)
            for label, value in sorted(slo.counters(series.name).items()):
                counter.add_metric([label] if labels else [], value)
            yield counter
            continue
        histogram = HistogramMetricFamily(name, series.help, labels=labels)
        for label, (buckets, total, _) in sorted(slo.histograms(series.name).items()):
            histogram.add_metric(
                [label] if labels else [],
                buckets=[(_le(le), n) for le, n in buckets],
                sum_value=total,
            )
        yield histogram


def process_families() -> Iterator[Metric]:
    host = procstats.host_stats()
    yield GaugeMetricFamily("leadbrain_host_cpu_count", "Logical CPUs", value=host["cpu_count"])
    yield GaugeMetricFamily(
        "leadbrain_host_cpu_percent",
        "Host CPU use since the last scrape",
        value=host["cpu_percent"],
    )
    cpu = CounterMetricFamily("leadbrain_host_cpu_seconds", "Host CPU time", labels=["mode"])
    for mode, seconds in host["cpu_seconds"].items():
        cpu.add_metric([mode], seconds)
    yield cpu
    yield GaugeMetricFamily("leadbrain_host_load1", "1-minute load average", value=host["load1"])
    for key in ("memory_total_bytes", "memory_available_bytes"):
        yield GaugeMetricFamily(f"leadbrain_host_{key}", f"Host {key}", value=host[key])
    stats = procstats.process_stats()
    count = GaugeMetricFamily("leadbrain_processes", "Processes per type", labels=["type"])
    seconds = CounterMetricFamily(
        "leadbrain_process_cpu_seconds", "CPU time of the processes of a type", labels=["type"]
    )
    rss = GaugeMetricFamily(
        "leadbrain_process_resident_memory_bytes", "Resident memory per type", labels=["type"]
    )
    for kind, values in stats.items():
        count.add_metric([kind], values.get("processes", 0))
        seconds.add_metric([kind], values.get("cpu_seconds", 0))
        rss.add_metric([kind], values.get("rss_bytes", 0))
    yield from (count, seconds, rss)


class DomainCollector(Collector):
    def describe(self) -> list[Metric]:
        return []  # registering must not run the probes (no queries at start-up)

    def collect(self) -> Iterator[Metric]:
        snapshot = probe_snapshot()
        queues = GaugeMetricFamily(
            "leadbrain_queue_depth", "Rows waiting in a table queue", labels=["queue"]
        )
        for name, depth in snapshot["queues"].items():
            queues.add_metric([name], depth)
        yield queues
        for name, value in snapshot["metrics"].items():
            yield GaugeMetricFamily(f"leadbrain_{name}", f"Leadbrain {name}", value=value)
        try:
            yield from list(slo_families())
        except Exception:  # noqa: BLE001 - Redis down: the rest of the page still answers
            logger.warning("SLO series unavailable", exc_info=True)
        yield from process_families()


_registered = False


def register_domain_collector() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(DomainCollector())
        _registered = True

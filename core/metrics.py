"""Domain figures on /metrics: every probe registered for /health (queue depths, leads/day,
SLO rates and p95s, read from the same cached snapshot as /health), the SLO counters and
histograms the workers keep in Redis (``core.slo``), and the CPU and memory of the host and
of each process type (``core.procstats``)."""

import logging
import math
from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, Collector

from core import procstats, slo
from core.alerts.models import Alert, JobRun
from core.selectors import api_p95_ms, health_report, probe_snapshot

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


STATUS_VALUE = {"green": 0, "info": 0, "yellow": 1, "red": 2}


def health_families() -> Iterator[Metric]:
    """/health's grades (0 green, 1 yellow, 2 red) per metric and overall, the periodic
    jobs' last success and failure, and the alerts firing per rule."""
    report = health_report()
    yield GaugeMetricFamily(
        "leadbrain_api_p95_ms", "p95 of the latest API requests (ms)", value=api_p95_ms()
    )
    yield GaugeMetricFamily(
        "leadbrain_health_status",
        "/health: 0 green, 1 yellow, 2 red",
        value=STATUS_VALUE[report["status"]],
    )
    graded = GaugeMetricFamily(
        "leadbrain_health_metric_status", "/health grade per metric", labels=["metric"]
    )
    for name, metric in sorted(report["metrics"].items()):
        graded.add_metric([name], STATUS_VALUE.get(metric["status"], 0))
    yield graded
    success = GaugeMetricFamily(
        "leadbrain_job_last_success_timestamp_seconds",
        "When a periodic job last succeeded (0: never)",
        labels=["job"],
    )
    failed = GaugeMetricFamily(
        "leadbrain_job_failed", "1 when a job's last run failed", labels=["job"]
    )
    for run in JobRun.objects.all():
        success.add_metric(
            [run.name], run.last_success_at.timestamp() if run.last_success_at else 0
        )
        last_failure, last_success = run.last_failure_at, run.last_success_at
        lost = last_failure is not None and (last_success is None or last_failure > last_success)
        failed.add_metric([run.name], int(lost))
    yield from (success, failed)
    firing = GaugeMetricFamily(
        "leadbrain_alerts_firing", "Alerts firing now, per rule", labels=["rule"]
    )
    rows = Alert.objects.filter(state=Alert.State.FIRING).values_list("rule", flat=True)
    for rule, n in sorted(Counter(rows).items()):
        firing.add_metric([rule], n)
    yield firing


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
        yield from health_families()
        yield from process_families()


_registered = False


def register_domain_collector() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(DomainCollector())
        _registered = True

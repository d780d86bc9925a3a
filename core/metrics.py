"""Domain gauges on /metrics: every probe registered for /health (queue depths, leads/day),
read from the same cached snapshot as /health."""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from core.selectors import probe_snapshot


class DomainCollector(Collector):
    def describe(self) -> list[GaugeMetricFamily]:
        return []  # registering must not run the probes (no queries at start-up)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = probe_snapshot()
        queues = GaugeMetricFamily(
            "leadbrain_queue_depth", "Rows waiting in a table queue", labels=["queue"]
        )
        for name, depth in snapshot["queues"].items():
            queues.add_metric([name], depth)
        yield queues
        for name, value in snapshot["metrics"].items():
            yield GaugeMetricFamily(f"leadbrain_{name}", f"Leadbrain {name}", value=value)


_registered = False


def register_domain_collector() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(DomainCollector())
        _registered = True

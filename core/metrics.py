"""Domain gauges on /metrics: every probe registered for /health (queue depths, leads/day)."""

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from core.selectors import METRIC_PROBES, QUEUE_PROBES


class DomainCollector(Collector):
    def collect(self):
        queues = GaugeMetricFamily(
            "leadbrain_queue_depth", "Rows waiting in a table queue", labels=["queue"]
        )
        for name, probe in QUEUE_PROBES.items():
            queues.add_metric([name], probe())
        yield queues
        for name, probe in METRIC_PROBES.items():
            yield GaugeMetricFamily(f"leadbrain_{name}", f"Leadbrain {name}", value=probe())


_registered = False


def register_domain_collector() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(DomainCollector())
        _registered = True

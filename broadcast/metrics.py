"""Broadcast counters on /metrics (queue depth and device gauges come from apps.py probes)."""

from prometheus_client import Counter

device_alerts = Counter(
    "leadbrain_broadcast_device_alerts",
    "Device alerts: down (disconnected, banned or paused automatically) or up (resumed "
    "automatically when the gateway answered again)",
    ["direction"],
)

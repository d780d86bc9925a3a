"""SLO figures shared by every process: counters and histograms kept in Redis, written by
the workers where things happen (routing, the VICIdial drain, the dispatcher) and read by
/metrics and /health in the web process.

- ``count(name, n, label)``: a total (exported as a Prometheus counter) and per-minute
  buckets kept for ``WINDOW_KEEP`` (for rates over a window: ``window_sum``).
- ``observe(name, values, label)``: a cumulative histogram (``BUCKETS``, exported as a
  Prometheus histogram) and the latest ``SAMPLES`` values with their time (for a p95 over
  a window: ``window_quantile``).

Losing Redis loses these figures, never data; a write that fails is dropped (a metric must
never fail the work it measures).
"""

import functools
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError as _RedisError

logger = logging.getLogger(__name__)
RedisError = (_RedisError, ConnectionInterrupted)

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
SAMPLES = 1000
WINDOW_KEEP = 3 * 3600


@dataclass(frozen=True)
class Series:
    name: str  # exported as leadbrain_<name>
    kind: str  # "counter" or "histogram"
    label: str  # the label's name ("" when the series has none)
    help: str


SERIES: dict[str, Series] = {}


def declare(name: str, kind: str, help: str, *, label: str = "") -> None:
    """Apps declare the series they write (in ``AppConfig.ready``) so /metrics exports them
    even before the first value."""
    SERIES[name] = Series(name, kind, label, help)


def _client() -> Any:
    return cache.client.get_client(write=True)  # type: ignore[attr-defined]  # django-redis


def _key(*parts: str) -> str:
    return str(cache.make_key("slo:" + ":".join(parts)))


Count = tuple[str, int, str]  # (series, n, label)
Observation = tuple[str, list[float], str]  # (series, values, label)


def count(name: str, n: int = 1, *, label: str = "") -> None:
    record(counts=[(name, n, label)])


def observe(name: str, values: Iterable[float], *, label: str = "") -> None:
    record(observations=[(name, list(values), label)])


def record(*, counts: Iterable[Count] = (), observations: Iterable[Observation] = ()) -> None:
    """Counts and observations in one round trip to Redis (hot paths record once a batch)."""
    pending = [(name, n, label) for name, n, label in counts if n > 0]
    observed = [(name, [max(0.0, float(v)) for v in vs], label) for name, vs, label in observations]
    observed = [o for o in observed if o[1]]
    if not pending and not observed:
        return
    try:
        pipe = _client().pipeline(transaction=False)
        for name, n, label in pending:
            _add_count(pipe, name, n, label)
        for name, values, label in observed:
            _add_observation(pipe, name, values, label)
        pipe.execute()
    except Exception:  # noqa: BLE001 - metrics never break the work
        logger.debug("slo figures dropped", exc_info=True)


def _add_count(pipe: Any, name: str, n: int, label: str) -> None:
    window = _key("w", name, str(int(time.time() // 60)))
    pipe.hincrby(_key("c", name), label, n)
    pipe.hincrby(window, label, n)
    pipe.expire(window, WINDOW_KEEP)


def _add_observation(pipe: Any, name: str, values: list[float], label: str) -> None:
    hist = _key("h", name)
    for le in (*BUCKETS, math.inf):
        inside = sum(1 for v in values if v <= le)
        if inside:
            pipe.hincrby(hist, f"{label}|{le}", inside)
    pipe.hincrbyfloat(hist, f"{label}|sum", sum(values))
    pipe.hincrby(hist, f"{label}|count", len(values))
    samples = _key("s", name, label)
    now = time.time()
    pipe.lpush(samples, *[f"{now:.3f} {v:.4f}" for v in values[-SAMPLES:]])
    pipe.ltrim(samples, 0, SAMPLES - 1)


def _read(default: Any) -> Any:
    """Reads answer ``default`` when Redis is down (/health still answers)."""

    def wrap(func: Any) -> Any:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except RedisError:
                logger.warning("SLO figures unavailable (Redis)", exc_info=True)
                return default

        return inner

    return wrap


@_read({})
def counters(name: str) -> dict[str, int]:
    """Totals per label value."""
    raw = _client().hgetall(_key("c", name))
    return {k.decode(): int(v) for k, v in raw.items()}


@_read({})
def window_sum(name: str, seconds: float) -> dict[str, int]:
    """Per label value: the counts of the last ``seconds`` (whole minutes)."""
    minute = int(time.time() // 60)
    minutes = max(1, math.ceil(seconds / 60))
    pipe = _client().pipeline(transaction=False)
    for m in range(minute - minutes + 1, minute + 1):
        pipe.hgetall(_key("w", name, str(m)))
    totals: dict[str, int] = defaultdict(int)
    for raw in pipe.execute():
        for k, v in raw.items():
            totals[k.decode()] += int(v)
    return dict(totals)


@_read({})
def histograms(name: str) -> dict[str, tuple[list[tuple[float, int]], float, int]]:
    """Per label value: (cumulative buckets (le, count), sum, count)."""
    raw = {k.decode(): v for k, v in _client().hgetall(_key("h", name)).items()}
    result = {}
    for label in {k.rsplit("|", 1)[0] for k in raw}:
        buckets = [(le, int(raw.get(f"{label}|{le}", 0))) for le in (*BUCKETS, math.inf)]
        total = float(raw.get(f"{label}|sum", 0))
        result[label] = (buckets, total, int(raw.get(f"{label}|count", 0)))
    return result


@_read(None)
def window_quantile(name: str, q: float, seconds: float, *, label: str = "") -> float | None:
    """The ``q`` quantile of the samples of the last ``seconds`` (None: no sample)."""
    since = time.time() - seconds
    values = []
    for item in _client().lrange(_key("s", name, label), 0, -1):
        at, value = item.decode().split()
        if float(at) >= since:
            values.append(float(value))
    if not values:
        return None
    values.sort()
    return values[min(len(values) - 1, int(len(values) * q))]


@_read([])
def sample_labels(name: str) -> list[str]:
    """The label values that have samples (one key each)."""
    prefix = _key("s", name, "")
    keys = _client().scan_iter(match=prefix + "*", count=500)
    return sorted(k.decode()[len(prefix) :] for k in keys)

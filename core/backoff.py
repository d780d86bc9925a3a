"""Exponential backoff with jitter, for every retry queue (routing, dialer outbox)."""

import random
from datetime import timedelta


def jittered_backoff(attempts: int, *, base: float, cap: float = 3600.0) -> timedelta:
    """Between half and all of ``base * 2^(attempts-1)`` seconds, never more than ``cap``."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))

"""Per-scope API admission in Redis: a request rate and a number of requests in flight.

One Lua script per request (one round trip, atomic across web processes and hosts):

- **Rate**: a sliding-window counter. The current minute's count plus the previous minute's
  count weighted by how much of it still overlaps the last 60 seconds; only admitted
  requests are counted, so a client that keeps hammering gets through again as soon as
  its real rate drops under the limit.
- **Refusals remembered**: a client refused for its rate is refused again by this process
  for up to ``API_REFUSAL_MEMO_SECONDS`` (never past its ``Retry-After``) without asking
  Redis or entering Django (``remember_refusal``; ``leads.fastpath`` answers at the WSGI
  level), so a flood of refused requests costs a dictionary lookup each, not a request's
  trip through the middleware, authentication and Redis. The connection of every
  refused request (rate or concurrency) is parked (``park_refused_connection``): its next request
  is read only after ``API_REFUSAL_PARK_SECONDS``, so a client ignoring ``Retry-After``
  gets an answer per connection per second, not as many as the CPU can give.
- **Concurrency**: a sorted set of slots, one member per request in flight, scored by the
  moment it expires. A request releases its slot when it ends (``ConcurrencySlotMiddleware``);
  a request that crashed or was killed before releasing it stops counting when the slot
  expires (``API_CONCURRENCY_SLOT_SECONDS``), so no slot is held forever.

Keys carry the scope in a hash tag (``{scope}``) so they stay together on a Redis Cluster.
When Redis does not answer, requests are admitted (losing Redis loses no data and must not
stop intake) and a warning is logged.
"""

import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from core.parking import park_connection

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
RATE = "rate"
CONCURRENCY = "concurrency"

# KEYS: current window, previous window, slots. ARGV: now, window seconds, rate limit,
# max slots, slot seconds, token, weight of the previous window. 0 as a limit: none.
# Returns {outcome, previous count, current count, slots in use}; outcome 0 admitted,
# 1 over the rate, 2 over the concurrency.
_ADMIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local slots = tonumber(ARGV[4])
local slot_seconds = tonumber(ARGV[5])
local active = 0
if slots > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  active = redis.call('ZCARD', KEYS[3])
  if active >= slots then return {2, 0, 0, active} end
end
local prev = 0
local curr = 0
if rate > 0 then
  prev = tonumber(redis.call('GET', KEYS[2]) or '0')
  curr = tonumber(redis.call('GET', KEYS[1]) or '0')
  if prev * tonumber(ARGV[7]) + curr + 1 > rate then return {1, prev, curr, active} end
  redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], window * 2)
end
if slots > 0 then
  redis.call('ZADD', KEYS[3], now + slot_seconds, ARGV[6])
  redis.call('EXPIRE', KEYS[3], slot_seconds)
end
return {0, prev, curr, active + 1}
"""
_script: Any = None  # registered once; called with each thread's client


@dataclass(frozen=True)
class Admission:
    allowed: bool
    reason: str = ""  # RATE or CONCURRENCY when refused
    retry_after: int = 0  # whole seconds, at least 1 when refused
    token: str = ""  # the slot to release when the request ends ("" when none was taken)


def _client() -> Any:
    return get_redis_connection("default")


def _keys(scope: str, window: int) -> list[str]:
    return [
        cache.make_key(f"ratelimit:{{{scope}}}:m{window}"),
        cache.make_key(f"ratelimit:{{{scope}}}:m{window - 1}"),
        cache.make_key(f"ratelimit:{{{scope}}}:slots"),
    ]


def _run_admit(*, keys: list[str], args: list[Any]) -> list[int]:
    global _script
    client = _client()
    if _script is None:
        _script = client.register_script(_ADMIT)
    result: list[int] = _script(keys=keys, args=args, client=client)
    return result


def rate_retry_after(*, limit: int, previous: int, current: int, elapsed: float) -> int:
    """Seconds until one more request fits under ``limit`` per minute, if none is admitted
    meanwhile: the previous minute's share decays linearly through the current one."""
    if previous > 0 and current + 1 <= limit:
        wait = WINDOW_SECONDS * (1 - (limit - current - 1) / previous) - elapsed
    else:  # the current minute alone is full: it becomes the decaying previous one
        wait = (WINDOW_SECONDS - elapsed) + WINDOW_SECONDS * (1 - (limit - 1) / max(current, 1))
    return max(1, math.ceil(wait))


def admit(
    *,
    scope: str,
    per_minute: int,
    max_concurrent: int,
    slot_seconds: int,
    now: float | None = None,
) -> Admission:
    """Admit one request of ``scope`` or say why not and when to try again."""
    if per_minute <= 0 and max_concurrent <= 0:
        return Admission(allowed=True)
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    elapsed = now - window * WINDOW_SECONDS
    token = uuid.uuid4().hex if max_concurrent > 0 else ""
    try:
        outcome, previous, current, _ = _run_admit(
            keys=_keys(scope, window),
            args=[
                now,
                WINDOW_SECONDS,
                max(per_minute, 0),
                max(max_concurrent, 0),
                max(int(slot_seconds), 1),
                token,
                1 - elapsed / WINDOW_SECONDS,
            ],
        )
    except (RedisError, OSError) as exc:
        logger.warning("rate limit not checked for %s (Redis: %s): admitted", scope, exc)
        return Admission(allowed=True)
    if outcome == 1:
        wait = rate_retry_after(
            limit=per_minute, previous=int(previous), current=int(current), elapsed=elapsed
        )
        return Admission(allowed=False, reason=RATE, retry_after=wait)
    if outcome == 2:
        return Admission(allowed=False, reason=CONCURRENCY, retry_after=1)
    return Admission(allowed=True, token=token)


# Per process: client (a key's SHA-256) -> (remembered until, retry at, message), monotonic.
_refusals: dict[str, tuple[float, float, str]] = {}
_REFUSALS_KEPT = 10_000


def remember_refusal(client: str, *, retry_after: int, message: str) -> None:
    """Refuse ``client`` again, in this process, for ``API_REFUSAL_MEMO_SECONDS`` at most and
    never past ``retry_after``: until then Redis would refuse it too (unless a manager raises
    the limit, which then applies after that second)."""
    memo = float(settings.API_REFUSAL_MEMO_SECONDS)
    if memo <= 0:
        return
    now = time.monotonic()
    if len(_refusals) >= _REFUSALS_KEPT:
        _refusals.clear()
    _refusals[client] = (now + min(memo, retry_after), now + retry_after, message)


def remembered_refusal(client: str, *, now: float | None = None) -> tuple[int, str] | None:
    """(seconds until the next request fits, message) while ``client``'s refusal is
    remembered here, else None."""
    if not _refusals:
        return None
    hit = _refusals.get(client)
    if hit is None:
        return None
    now = time.monotonic() if now is None else now
    if now >= hit[0]:
        _refusals.pop(client, None)
        return None
    return max(1, math.ceil(hit[1] - now)), hit[2]


def park_refused_connection(retry_after: int) -> None:
    """Read the refused request's connection again only after ``API_REFUSAL_PARK_SECONDS``,
    never past its ``Retry-After`` (``core.parking``; the answer itself goes out at once)."""
    park_connection(min(float(settings.API_REFUSAL_PARK_SECONDS), retry_after))


def has_refusals() -> bool:
    return bool(_refusals)


def forget_refusals() -> None:
    _refusals.clear()


def release(*, scope: str, token: str) -> None:
    """Free a request's concurrency slot (idempotent)."""
    if not token:
        return
    try:
        _client().zrem(_keys(scope, 0)[2], token)
    except (RedisError, OSError) as exc:  # the slot expires by itself
        logger.warning("concurrency slot of %s not released (Redis: %s)", scope, exc)


def slots_in_use(*, scope: str, now: float | None = None) -> int:
    """Requests of ``scope`` in flight now (expired slots not counted)."""
    now = time.time() if now is None else now
    return int(_client().zcount(_keys(scope, 0)[2], f"({now}", "+inf"))


SLOTS_ATTRIBUTE = "_leadbrain_slots"


def hold_until_response(request: HttpRequest, *, scope: str, token: str) -> None:
    """Release this slot when ``request``'s response is ready (see the middleware)."""
    slots = getattr(request, SLOTS_ATTRIBUTE, None)
    if slots is None:
        slots = []
        setattr(request, SLOTS_ATTRIBUTE, slots)
    slots.append((scope, token))


class ConcurrencySlotMiddleware:
    """Releases the concurrency slots a request took, whatever the view answered or raised."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response: HttpResponse = self.get_response(request)
        finally:
            for scope, token in getattr(request, SLOTS_ATTRIBUTE, ()):
                release(scope=scope, token=token)
        return response

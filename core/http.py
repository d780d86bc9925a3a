"""Outgoing HTTP: a session cannot be built without a timeout and a retry policy.

``build_session`` gives a ``requests`` session; ``build_pool`` gives a bare urllib3
connection pool for one host, with the same timeout and retry policy, for hot paths where
``requests``' own work per call (about 1 ms of CPU: hooks, cookies, proxy lookup in the
environment) is most of the cost.
"""

from dataclasses import dataclass
from typing import Any

import certifi
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


@dataclass(frozen=True)
class HttpPolicy:
    timeout: float  # seconds, connect and read
    retries: int = 2  # connection-level retries only (idempotent methods)
    backoff: float = 0.2
    pool_size: int = 10


class TimeoutSession(requests.Session):
    def __init__(self, policy: HttpPolicy) -> None:
        super().__init__()
        self.policy = policy

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.policy.timeout)
        return super().request(method, url, **kwargs)


def build_session(policy: HttpPolicy, *, user_agent: str = "Leadbrain/1.0") -> TimeoutSession:
    if policy.timeout <= 0:
        raise ValueError("an outgoing HTTP session needs a positive timeout")
    session = TimeoutSession(policy)
    retry = Retry(
        total=policy.retries,
        connect=policy.retries,
        read=0,  # never replay a request the server may have acted on
        status=0,
        backoff_factor=policy.backoff,
        allowed_methods=frozenset({"GET", "HEAD", "OPTIONS"}),
        raise_on_status=False,
    )
    adapter = HTTPAdapter(
        max_retries=retry, pool_connections=policy.pool_size, pool_maxsize=policy.pool_size
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def build_pool(
    policy: HttpPolicy, url: str, *, user_agent: str = "Leadbrain/1.0"
) -> urllib3.HTTPConnectionPool:
    """A keep-alive connection pool to ``url``'s host (HTTP or HTTPS, certificates checked
    against the same bundle ``requests`` uses). Connection failures are retried
    ``policy.retries`` times (the request never left); a request that may have reached the
    server is never replayed, and redirects are not followed. No proxy from the environment.
    """
    if policy.timeout <= 0:
        raise ValueError("an outgoing HTTP pool needs a positive timeout")
    retry = Retry(
        total=policy.retries,
        connect=policy.retries,
        read=0,
        status=0,
        other=0,
        redirect=False,
        backoff_factor=policy.backoff,
        raise_on_status=False,
    )
    pool = urllib3.connection_from_url(
        url,
        maxsize=policy.pool_size,
        block=True,
        timeout=urllib3.Timeout(connect=policy.timeout, read=policy.timeout),
        retries=retry,
        headers={"User-Agent": user_agent},
        **({"ca_certs": certifi.where()} if url.lower().startswith("https:") else {}),
    )
    return pool

"""Outgoing HTTP: a session cannot be built without a timeout and a retry policy."""

from dataclasses import dataclass
from typing import Any

import requests
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

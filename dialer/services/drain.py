"""The outbox drain: push a server's due items through its Non-Agent API.

A drain per server claims due items with ``FOR UPDATE SKIP LOCKED`` under a lease (a
crashed drain's items come back after ``DIALER_LEASE_SECONDS``), sends them with bounded
concurrency within the server's hourly call budget, and records the results set-wise.
``add_lead`` always carries our lead id as ``vendor_lead_code`` and a duplicate check, so
a retry after a lost answer finds the lead VICIdial already has instead of adding it twice.
"""

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings

from core.errors import ApplicationError
from core.locks import lock_key, try_session_lock
from dialer.client import ViciClient
from dialer.exceptions import ServerPausedError
from dialer.models import ViciList, ViciServer
from dialer.services.credentials import client_for
from dialer.services.pipeline import DrainStats, Pipeline
from dialer.services.send import Outcome, item_send

# Results are recorded in chunks of at least this many (or whatever is back when nothing
# is in flight): a chunk costs the same handful of statements whatever its size.
CHUNK = 50


class _Senders:
    """``concurrency`` threads that send the claimed items in order, never touching the
    database, while the drain's own thread claims and records: the requests never wait for
    a claim or a write. Each answer comes back on one queue; once ``stop`` is set, items not
    yet sent come back unsent (``None``)."""

    def __init__(self, client: ViciClient, lists: dict[int, ViciList], concurrency: int):
        self.client, self.lists = client, lists
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="vici")
        self.results: queue.SimpleQueue[tuple[dict[str, Any], Any]] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.outstanding = 0

    def submit(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            self.outstanding += 1
            self.pool.submit(self._send, item)

    def _send(self, item: dict[str, Any]) -> None:
        if self.stop.is_set():
            self.results.put((item, None))
            return
        try:
            self.results.put((item, item_send(self.client, item, self.lists)))
        except BaseException as exc:  # noqa: BLE001 (handed to the drain thread, raised there)
            self.results.put((item, exc))

    def collect(self, *, timeout: float | None) -> tuple[list[Outcome], list[dict[str, Any]]]:
        """Wait for one answer (up to ``timeout``; None: until one comes), then take every
        answer already back: (outcomes, items that were not sent)."""
        got = []
        try:
            got.append(self.results.get(timeout=timeout))
            while True:
                got.append(self.results.get_nowait())
        except queue.Empty:
            pass
        self.outstanding -= len(got)
        outcomes, unsent = [], []
        for item, result in got:
            if isinstance(result, BaseException):
                raise result
            if result is None:
                unsent.append(item)
            else:
                outcomes.append(result)
        return outcomes, unsent

    def close(self) -> None:
        self.stop.set()
        self.pool.shutdown(wait=True)


def outbox_drain(*, server_id: int, max_batches: int | None = None) -> DrainStats:
    """Push this server's due items until none are due or the budget is spent.

    A pipeline, not lock-step batches: every claimed item goes straight to the senders, so
    up to ``max_concurrency`` requests are always in flight; the next batch is claimed while
    the current one is being sent, and results are recorded in chunks as they come back.
    """
    with try_session_lock(lock_key("dialer-drain", server_id)) as mine:
        if not mine:  # beat and "Drain now" both asked: one drain per server at a time
            return DrainStats(busy=True)
        return _drain(server_id, max_batches)


def _drain(server_id: int, max_batches: int | None) -> DrainStats:
    stats = DrainStats()
    server = ViciServer.objects.get(pk=server_id)
    try:
        client = client_for(server)
    except ServerPausedError:
        stats.paused = True
        return stats
    except ApplicationError as exc:  # no usable password: say so on the server, send nothing
        ViciServer.objects.filter(pk=server_id).update(last_error=exc.message)
        stats.error = exc.message
        return stats
    lists = {vl.pk: vl for vl in ViciList.objects.filter(server=server)}
    pipe = Pipeline(server_id, lists, stats)
    items = pipe.claim(settings.DIALER_BATCH_SIZE)
    if not items:
        return stats
    # The drain's first item goes alone: a bad login must cost one attempt, not ten.
    first = item_send(client, items[0], lists)
    if pipe.record([first], probe=True):
        pipe.release(items[1:])
        return stats
    senders = _Senders(client, lists, max(1, server.max_concurrency))
    try:
        senders.submit(items[1:])
        _run(pipe, senders, max_batches)
    finally:
        senders.close()
    return stats


def _run(pipe: Pipeline, senders: _Senders, max_batches: int | None) -> None:
    batch, stats = settings.DIALER_BATCH_SIZE, pipe.stats
    done: list[Outcome] = []
    while True:
        if (
            pipe.claiming
            and senders.outstanding < batch
            and (max_batches is None or stats.batches < max_batches)
        ):
            senders.submit(pipe.claim(batch))
            continue
        if not senders.outstanding and not done:
            return
        if senders.outstanding:
            outcomes, _ = senders.collect(timeout=None if len(done) < CHUNK else 0)
            done += outcomes
        if done and (len(done) >= CHUNK or not senders.outstanding):
            chunk, done = done, []
            if pipe.record(chunk):  # stop: what was not sent yet goes back
                senders.stop.set()
                rest, unsent = [], []
                while senders.outstanding:
                    outcomes, never = senders.collect(timeout=None)
                    rest += outcomes
                    unsent += never
                pipe.record(rest, final=True)
                pipe.release(unsent)
                return

"""The outbox drain: push a server's due items through its Non-Agent API.

A drain per server claims due items with ``FOR UPDATE SKIP LOCKED`` under a lease (a
crashed drain's items come back after ``DIALER_LEASE_SECONDS``), sends them with bounded
concurrency within the server's hourly call budget, and records the results set-wise.
``add_lead`` always carries our lead id as ``vendor_lead_code`` and a duplicate check, so
a retry after a lost answer finds the lead VICIdial already has instead of adding it twice.
"""

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.conf import settings

from core.errors import ApplicationError
from dialer.exceptions import ServerPausedError
from dialer.models import ViciList, ViciServer
from dialer.services.credentials import client_for
from dialer.services.pipeline import DrainStats, Pipeline
from dialer.services.send import Outcome, item_send


def outbox_drain(*, server_id: int, max_batches: int | None = None) -> DrainStats:
    """Push this server's due items until none are due or the budget is spent.

    A pipeline, not lock-step batches: up to ``max_concurrency`` requests are always in
    flight; the next batch is claimed while the current one is still being sent, and results
    are written in chunks as they come back.
    """
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
    concurrency = max(1, server.max_concurrency)
    items = pipe.claim(settings.DIALER_BATCH_SIZE)
    if not items:
        return stats
    # The drain's first item goes alone: a bad login must cost one attempt, not ten.
    first = item_send(client, items[0], lists)
    pipe.queue.extend(items[1:])
    if pipe.record([first], probe=True):
        pipe.release()
        return stats
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        inflight: set[Future] = set()
        done: list[Outcome] = []
        while True:
            while pipe.queue and len(inflight) < concurrency:
                inflight.add(pool.submit(item_send, client, pipe.queue.popleft(), lists))
            outstanding = len(pipe.queue) + len(inflight)
            if (
                pipe.claiming
                and outstanding < settings.DIALER_BATCH_SIZE
                and (max_batches is None or stats.batches < max_batches)
            ):
                pipe.queue.extend(pipe.claim(settings.DIALER_BATCH_SIZE))
                continue
            if not inflight and not pipe.queue and not done:
                break
            if inflight:
                finished, inflight = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
                done += [f.result() for f in finished]
            if done and (len(done) >= max(concurrency, 25) or not inflight):
                chunk, done = done, []
                if pipe.record(chunk):  # stop: give back what was claimed but not sent
                    rest = [f.result() for f in wait(inflight).done]
                    inflight = set()
                    pipe.record(rest, final=True)
                    pipe.release()
                    break
    return stats

"""Group commit: concurrent callers of one process share one batch, each with its own result.

A caller that finds no batch of its key running runs one at once with whatever has queued
(at least its own item); callers arriving meanwhile queue, and when the batch ends the
first of them runs the next batch with all of them. No timer: an idle process runs each
item alone and immediately, a busy one in batches as large as the queue that formed while
the previous batch ran (bounded by ``max_items``).

``after(key, items, results)``, if given, runs once per batch that succeeded (and for each
item run alone), by the caller that ran it, after the next batch was handed on: work that
follows a batch (intake's routing wake, a message to the broker) never holds up the next.

If a batch raises, every caller of it runs its item alone (``run`` with one item, on its
own thread): each gets exactly the result or the exception it would have had without the
grouping, and one bad item never fails the others.
"""

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot(Generic[Item, Result]):
    __slots__ = ("item", "woken", "leads", "served", "failed", "result")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.woken = threading.Event()
        self.leads = False  # runs the next batch (promoted, or found none running)
        self.served = False  # a leader ran its item: ``result`` or ``failed`` is set
        self.failed = False
        self.result: Result | None = None


class GroupCommit(Generic[Item, Result]):
    """``run(key, items)`` returns one result per item, in order; items of one ``key``
    share batches (callers of different keys never wait for each other)."""

    def __init__(
        self,
        run: Callable[[Hashable, list[Item]], Sequence[Result]],
        *,
        max_items: int = 100,
        after: Callable[[Hashable, list[Item], Sequence[Result]], Any] | None = None,
    ) -> None:
        self._run = run
        self._max = max_items
        self._after = after
        self._lock = threading.Lock()
        self._queues: dict[Hashable, list[_Slot[Item, Result]]] = {}
        self._running: set[Hashable] = set()
        self.batches = 0  # batches run and items in them (for tests and benches)
        self.items = 0

    def submit(self, key: Hashable, item: Item) -> Result:
        slot: _Slot[Item, Result] = _Slot(item)
        with self._lock:
            self._queues.setdefault(key, []).append(slot)
            if key not in self._running:
                self._running.add(key)
                slot.leads = True
        if not slot.leads:
            # Bounded: the running batch, then either ours or our promotion to run it.
            slot.woken.wait()
        if slot.served:
            if slot.failed:
                return self._alone(key, item)
            return slot.result  # type: ignore[return-value]
        return self._lead(key, slot)

    def _alone(self, key: Hashable, item: Item) -> Result:
        results = self._run(key, [item])
        if self._after is not None:
            self._after(key, [item], results)
        return results[0]

    def _lead(self, key: Hashable, own: _Slot[Item, Result]) -> Result:
        with self._lock:
            queue = self._queues[key]
            assert queue[0] is own  # noqa: S101 (the queue's head leads)
            batch, rest = queue[: self._max], queue[self._max :]
            if rest:
                self._queues[key] = rest
            else:
                del self._queues[key]
            self.batches += 1
            self.items += len(batch)
        results: Sequence[Result] | None = None
        try:
            results = self._run(key, [slot.item for slot in batch])
        except Exception:
            if len(batch) == 1:
                raise  # alone already: the exception is its own
        finally:
            # Whatever happened (an exception, even a BaseException), nobody is left waiting.
            with self._lock:
                waiting = self._queues.get(key)
                if waiting:
                    waiting[0].leads = True
                    waiting[0].woken.set()
                else:
                    self._running.discard(key)
            for index, slot in enumerate(batch[1:], start=1):
                slot.served = True
                if results is None:
                    slot.failed = True
                else:
                    slot.result = results[index]
                slot.woken.set()
        if results is None:
            return self._alone(key, own.item)
        if self._after is not None:
            self._after(key, [slot.item for slot in batch], results)
        return results[0]

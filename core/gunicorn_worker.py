"""gunicorn's threaded worker, with parked connections (``core.parking``).

A request whose handler parked its connection is answered as usual; the connection then
waits here, off the poller, until its parking ends, and goes back to the kept-alive
connections after that (its next request, if the client already sent one, is read then).
Parked connections hold no thread. A stopping worker releases them at once, so a
graceful shutdown is not held up by them.
"""

import heapq
import itertools
import time
from concurrent.futures import Future
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from core.parking import take_parking


class ParkingThreadWorker(ThreadWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parked: list[tuple[float, int, TConn]] = []
        self._order = itertools.count()

    def handle(self, conn: TConn) -> Any:
        take_parking()  # nothing left over from this thread's previous request
        result = super().handle(conn)
        conn.park_until = take_parking()
        return result

    def finish_request(self, conn: TConn, fs: Future[Any]) -> None:
        until = getattr(conn, "park_until", 0.0)
        if until and self._parks(conn, fs, until):
            conn.park_until = 0.0
            heapq.heappush(self.parked, (until, next(self._order), conn))
            return
        super().finish_request(conn, fs)

    def _parks(self, conn: TConn, fs: Future[Any], until: float) -> bool:
        """Only a connection kept alive, with nothing of its next request read ahead."""
        if not self.alive or fs.cancelled() or fs.exception() is not None:
            return False
        if fs.result() is not True or until <= time.monotonic():
            return False
        return not conn.parser.unreader.buf.getvalue()

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self.parked:
            timeout = min(timeout, max(0.0, self.parked[0][0] - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)
        self.unpark(everyone=not self.alive)

    def unpark(self, *, everyone: bool = False) -> None:
        """Connections whose parking has ended (all of them: ``everyone``) go back to the
        kept-alive ones, exactly as a finished request's connection would."""
        now = time.monotonic()
        while self.parked and (everyone or self.parked[0][0] <= now):
            _, _, conn = heapq.heappop(self.parked)
            kept: Future[Any] = Future()
            kept.set_result(True)
            super().finish_request(conn, kept)

    def murder_keepalived(self, force: bool = False) -> None:
        if force:
            self.unpark(everyone=True)
        super().murder_keepalived(force)

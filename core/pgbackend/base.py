"""PostgreSQL as django-prometheus instruments it, with a health check that looks at the
connection's socket before it asks the server.

Django's check (``CONN_HEALTH_CHECKS``) sends ``SELECT 1`` and waits for the answer before
the first query of every request and task: a round trip, and for a threaded web worker a
wait for the GIL after it, on every request. A server that gives up on an idle connection
(a restart, ``pg_terminate_backend``, ``idle_session_timeout``, a crashed backend) sends a
FATAL message and closes it, or the kernel closes it: either way its socket becomes
readable. So a connection that libpq sees as open and idle, with nothing to read, is
usable without asking; anything else (something to read, a transaction left open, a
status other than OK) gets Django's ``SELECT 1``. A connection whose peer vanished without
a word (a cut cable) is found by neither check at once: ``SELECT 1`` would wait for TCP's
timeout just as the request's first query now does.
"""

import select

from django_prometheus.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed:
            return False
        pgconn = conn.pgconn
        if (
            pgconn.status != pq.ConnStatus.OK
            or pgconn.transaction_status != pq.TransactionStatus.IDLE
            or _readable(pgconn.socket)
        ):
            return bool(super().is_usable())
        return True


def _readable(fd: int) -> bool:
    poller = select.poll()  # not select(): any descriptor number
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))

"""gunicorn settings, read by every launcher (make run, docker compose, the benches).

Threaded workers keep client connections alive (VICIdial call URLs, gateway webhooks and
API clients reuse them); WEB_CONCURRENCY processes x WEB_THREADS threads serve requests.
"""

import gc
import os

import environ
from gunicorn.glogging import Logger

from core.secrets import mask_query_secrets

# gthread, with connections parked after a refusal (core.parking, API_REFUSAL_PARK_SECONDS).
worker_class = "core.gunicorn_worker.ParkingThreadWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "16"))
keepalive = 30
timeout = 60
# Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
# connections over them by address; on one shared socket whichever worker woke first
# accepted, and one of two could hold 35-38 of 50 keep-alive clients, its 16 threads
# serving most of the work with the other worker half idle: 816-833 leads/s against
# 956-1,121 with an even split (bench/README.md). WEB_REUSE_PORT=0 shares one socket (a
# platform without SO_REUSEPORT, or to have a second server on the same port refused); read
# as every boolean setting is (config/settings.py): "false", "no" and "off" share it too.
reuse_port = environ.Env().bool("WEB_REUSE_PORT", default=True)


class MaskingLogger(Logger):
    """The access log with secret query values masked (the call-URL and gateway tokens,
    the metrics token): in the request line, the query string and the referer."""

    MASKED_ATOMS = ("r", "q", "f", "{referer}i")

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in self.MASKED_ATOMS:
            if isinstance(atoms.get(name), str):
                atoms[name] = mask_query_secrets(atoms[name])
        return atoms


logger_class = MaskingLogger


def _content_length(req) -> str | None:
    return next((value for name, value in req.headers if name == "CONTENT-LENGTH"), None)


def pre_request(worker, req):
    """A body over the limit gets a 413 without being read: answer it with
    ``Connection: close`` so the client does not send its next request on a connection
    that still holds the unread body (or that gunicorn drops after draining 64 KB)."""
    from core.middleware import body_too_large

    if body_too_large(req.path, _content_length(req)):
        req.must_close = True


def post_worker_init(worker):
    """The worker's heap as loaded (Django, the apps, their modules: most of its objects)
    is frozen out of the garbage collector, so a full collection walks only what was made
    since. Unfrozen, each full collection took 60-110 ms, with every thread of the worker
    stopped: the paced intake bench's slowest requests (bench/README.md)."""
    gc.collect()
    gc.freeze()

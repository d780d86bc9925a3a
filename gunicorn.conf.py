"""gunicorn settings, read by every launcher (make run, docker compose, the benches).

Threaded workers keep client connections alive (VICIdial call URLs, gateway webhooks and
API clients reuse them); WEB_CONCURRENCY processes x WEB_THREADS threads serve requests.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 30
timeout = 60

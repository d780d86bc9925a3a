"""A real gunicorn (the project's gunicorn.conf.py) on a free local port, for tests of what
only the server shows: keep-alive after an error, the access log."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings

from tests.e2e.conftest import database_url

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, access_log: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = access_log
        environ = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "WEB_CONCURRENCY": "1",
            "WEB_THREADS": "2",
            **env,
        }
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "gunicorn.conf.py",
                "-b",
                f"127.0.0.1:{self.port}",
                "--access-logfile",
                str(access_log),
                "--no-control-socket",  # several test servers (and worktrees) at once
                "config.wsgi",
            ],
            cwd=ROOT,
            env=environ,
        )

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}")
            try:
                requests.get(f"{self.url}/health", timeout=seconds)
                return
            except requests.ConnectionError:  # not listening yet
                time.sleep(0.1)
        raise AssertionError(f"gunicorn did not answer within {seconds}s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_lines(self, expected: int, seconds: float = 10) -> list[str]:
        """The access log once it holds ``expected`` lines (gunicorn writes after answering)."""
        deadline = time.monotonic() + seconds
        lines: list[str] = []
        while time.monotonic() < deadline:
            lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
            if len(lines) >= expected:
                return lines
            time.sleep(0.05)
        raise AssertionError(f"access log has {len(lines)} lines, expected {expected}")

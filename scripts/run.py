"""Run web, Celery worker and Celery beat together until Ctrl-C (used by `make run`), with
the living demo beside them: the VICIdial and WhatsApp gateway simulators and the demo
process (links them to the demo configuration, then posts demo leads unless
``DEMO_TRAFFIC=0``). Any process ending stops them all."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUEUES = "default,intake,routing,dialer,calllogs,broadcast"


def main() -> int:
    port = os.environ.get("PORT", "8000")
    host = os.environ.get("HOST", "127.0.0.1")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True
    )
    commands = {
        "web": [
            str(BIN / "gunicorn"),
            "config.wsgi",
            "-b",
            f"{host}:{port}",
            "--access-logfile",
            "-",
        ],
        "worker": [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            QUEUES,
            "--concurrency",
            "4",  # the routing task may stay while demo leads keep coming
            "-l",
            "info",
        ],
        "beat": [str(BIN / "celery"), "-A", "config", "beat", "-l", "info"],
        "vicidial-sim": [sys.executable, "-m", "simulators", "vicidial"],
        "gateway-sim": [sys.executable, "-m", "simulators", "gateway"],
        "demo": [sys.executable, "-m", "simulators", "demo"],
    }
    procs = {name: subprocess.Popen(cmd, cwd=ROOT, env=env) for name, cmd in commands.items()}
    base = f"http://{host}:{port}"
    password = os.environ.get("DEMO_ADMIN_PASSWORD") or "admin"
    traffic = "off (DEMO_TRAFFIC=0)" if os.environ.get("DEMO_TRAFFIC") == "0" else "on"
    print(
        f"\nLeadbrain is running:\n  admin      {base}/admin/\n  agent page {base}/leads/\n"
        f"  API docs   {base}/api/docs/\n  health     {base}/health\n"
        f"Logins (password {password}): admin (everything), manager and integrator (at "
        "/admin/, workspace acme-sales), agent (at /login/); the integrator's API key is "
        "printed by the demo below.\n"
        f"Demo leads: {traffic}. Ctrl-C stops everything.\n",
        flush=True,
    )
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    failed = None
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                failed = name
                stopping = True
        time.sleep(0.5)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    if failed:
        print(f"{failed} stopped unexpectedly (exit {procs[failed].returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

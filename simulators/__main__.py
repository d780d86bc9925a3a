"""``python -m simulators <piece>``: each piece of the living demo as a process (make run).

* ``vicidial``: the VICIdial simulator and its dialer on ``DEMO_VICIDIAL_PORT``.
* ``gateway``: the WhatsApp gateway simulator and its phones on ``DEMO_GATEWAY_PORT``.
* ``setup``: load the demo configuration (idempotent) and print the logins.
* ``demo``: link the running simulators to it, print the integrator's API key, then post
  demo leads through the API until stopped (``DEMO_TRAFFIC=0``: no leads, just wait).
"""

import argparse
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from simulators.demo import VICI_PASSWORD, VICI_USER

TRIM_EVERY = 60.0
ROOT = Path(__file__).resolve().parent.parent


def env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def vici_port() -> int:
    return int(env("DEMO_VICIDIAL_PORT", "8101"))


def gateway_port() -> int:
    return int(env("DEMO_GATEWAY_PORT", "8102"))


def web_url() -> str:
    return f"http://{env('HOST', '127.0.0.1')}:{env('PORT', '8000')}"


def stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def serve(simulator, stop: threading.Event, every_minute=None) -> int:
    while not stop.wait(TRIM_EVERY):
        simulator.trim()
        if every_minute is not None:
            every_minute()
    simulator.stop()
    if every_minute is not None:
        every_minute()
    return 0


def run_vicidial() -> int:
    from simulators.vicidial import ViciSimulator, snapshot

    password = env("DEMO_VICI_PASSWORD", VICI_PASSWORD)
    vici = ViciSimulator(user=VICI_USER, password=password)
    saved = ROOT / env("DEMO_VICIDIAL_STATE", ".run/vicidial-simulator.json")
    if not snapshot.load(vici, saved):
        # A first run's lead ids start high (VICIdial's come from a long-lived table).
        vici.state.next_id = 1 + (int(time.time()) % 10_000_000) * 50
    vici.port = vici_port()
    vici.start()
    vici.start_dialer()
    print(f"VICIdial simulator on {vici.url} ({len(vici.state.leads)} leads kept)", flush=True)

    def save() -> None:
        with vici.lock:
            snapshot.save(vici, saved)

    return serve(vici, stop_event(), every_minute=save)


def run_gateway() -> int:
    from simulators.demo import GATEWAY_TOKEN
    from simulators.gateway import GatewaySimulator

    gateway = GatewaySimulator(token=GATEWAY_TOKEN, latency=(0.05, 0.3))
    gateway.port = gateway_port()
    gateway.start()
    gateway.start_phones()
    print(f"WhatsApp gateway simulator on {gateway.url}", flush=True)
    return serve(gateway, stop_event())


def django_setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def run_setup() -> int:
    django_setup()
    from simulators.demo.setup import demo_setup

    password = env("DEMO_ADMIN_PASSWORD", "admin")
    demo = demo_setup(
        vici_url=f"http://127.0.0.1:{vici_port()}/vicidial/non_agent_api.php",
        vici_password=env("DEMO_VICI_PASSWORD", VICI_PASSWORD),
        gateway_url=f"http://127.0.0.1:{gateway_port()}",
        password=password,
    )
    print(
        f"demo: {len(demo.rules)} routing rules, {len(demo.lists)} VICIdial lists on "
        f"'{demo.server.name}', {len(demo.devices)} devices, sequence '{demo.sequence.name}'"
    )
    for username, role, where in demo.people:
        print(f"demo login ({role}, at {where}): {username} / {password}")
    return 0


def wait_for(url: str, stop: threading.Event, seconds: float = 180) -> bool:
    """Until something listens at ``url``'s host and port (a bounded wait while the
    processes start; a busy machine answers slowly, but it listens)."""
    parts = urlsplit(url)
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            socket.create_connection((parts.hostname, parts.port or 80), timeout=2).close()
            return True
        except OSError:
            stop.wait(0.3)
    return False


def run_demo() -> int:
    django_setup()
    from leads.models import Workspace
    from simulators.demo.connect import demo_connect, demo_key
    from simulators.traffic import Traffic

    stop = stop_event()
    gateway_url = f"http://127.0.0.1:{gateway_port()}"
    vici_root = f"http://127.0.0.1:{vici_port()}"
    for url in (vici_root, gateway_url, f"{web_url()}/health"):
        if not wait_for(url, stop):
            print(f"demo: {url} did not answer", file=sys.stderr)
            return 1
    linked = demo_connect(
        vici_control_url=f"{vici_root}/simulator/campaign",
        gateway_url=gateway_url,
        web_url=web_url(),
    )
    campaigns = ", ".join(sorted(linked.campaigns))
    print(f"demo: simulators linked (campaigns {campaigns}; sessions {', '.join(linked.sessions)})")
    acme = Workspace.objects.get(slug="acme-sales")
    partner = Workspace.objects.get(slug="partner-leads")
    print(
        f"demo: integrator API key (acme-sales): {demo_key(workspace=acme, name='demo-integrator')}"
    )
    if env("DEMO_TRAFFIC", "1") == "0":
        print("demo: DEMO_TRAFFIC=0, no demo leads", flush=True)
        stop.wait()
        return 0
    keys = [demo_key(workspace=w, name="demo-traffic") for w in (acme, partner)]
    rate = float(env("DEMO_TRAFFIC_RATE", "2"))
    print(f"demo: posting about {rate:g} leads a second to {web_url()}/api/v1/leads/", flush=True)
    traffic = Traffic(base_url=web_url(), keys=keys, rate=rate)
    while not stop.is_set():
        answers = traffic.run(stop, seconds=60)
        print(f"demo leads so far: {dict(answers)}", flush=True)
    return 0


PIECES = {"vicidial": run_vicidial, "gateway": run_gateway, "setup": run_setup, "demo": run_demo}


def read_env_files() -> None:
    """The same ``.env`` the settings read, so every piece sees the same ports and flags."""
    import environ

    for path in (ROOT / ".env", ROOT / ".run" / "env"):
        if path.exists():
            environ.Env.read_env(path, overwrite=False)


def main(argv: list[str] | None = None) -> int:
    read_env_files()
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("piece", choices=sorted(PIECES))
    return PIECES[parser.parse_args(argv).piece]()


if __name__ == "__main__":
    sys.exit(main())

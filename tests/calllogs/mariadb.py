"""Is there a MariaDB for the tests that read a Vici database?

Only those tests need one (marker ``needs_mariadb``; any test using the ``vici_db`` fixture
gets it). ``make services`` starts or installs MariaDB when it can; when it could not, those
tests are skipped with the reason in pytest's summary and every other test still runs.
"""

import os
import socket
from functools import cache
from urllib.parse import urlsplit

DEFAULT_URL = "mysql://root@127.0.0.1:3306/"
MARKER = "needs_mariadb"


def mariadb_url() -> str:
    """MARIADB_URL, or the local default when it is not set at all (an empty value, written
    by ``scripts/services.py`` when it found no MariaDB, means none)."""
    value = os.environ.get("MARIADB_URL")
    return DEFAULT_URL if value is None else value


@cache
def mariadb_unavailable(url: str, timeout: float = 2.0) -> str | None:
    """Why the tests cannot use the MariaDB at ``url``, or None when it answers and logs in."""
    if not url:
        return "MARIADB_URL is empty: `make services` found no MariaDB and could not install it"
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 3306
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return f"no MariaDB answers at {host}:{port} ({type(exc).__name__})"
    import pymysql

    try:
        pymysql.connect(
            host=host,
            port=port,
            user=parts.username or "root",
            password=parts.password or "",
            connect_timeout=timeout,
        ).close()
    except pymysql.err.MySQLError as exc:
        return f"MariaDB at {host}:{port} refused the login ({exc.args[-1] if exc.args else exc})"
    return None

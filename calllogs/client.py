"""The outside sources of VICIdial calls: its database and its ``phone_number_log`` API.

Both return ``CallRecord``s (or rows to turn into them); the services decide what a call
means for a lead. ``CallRecord`` is also what the call-URL webhook builds.
"""

import zoneinfo
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from dialer.client import PhoneLogRow, ViciClient


@dataclass
class CallRecord:
    uniqueid: str
    call_time: datetime | None = None  # default: the uniqueid's epoch
    vendor_lead_code: str = ""
    vici_lead_id: int | None = None
    phone: str = ""
    list_id: int | None = None
    campaign: str = ""
    agent: str = ""
    status: str = ""
    talk_seconds: int = 0
    term_reason: str = ""
    call_id: str = ""
    recording_url: str = ""
    direction: str = "out"


def call_time_of(uniqueid: str) -> datetime:
    """Asterisk uniqueid is "<epoch>.<sequence>"."""
    epoch = uniqueid.split(".", 1)[0]
    if not (epoch.isascii() and epoch.isdigit()) or not 9 <= len(epoch) <= 11:
        raise ValueError(f"not an Asterisk uniqueid: {uniqueid!r}")
    return datetime.fromtimestamp(int(epoch), tz=UTC)


# --- the Vici database (a read-only MySQL/MariaDB account or replica) -----------------------

VICI_QUERY = """
    SELECT v.uniqueid, v.lead_id, v.list_id, v.campaign_id, v.start_epoch, v.length_in_sec,
           v.status, v.phone_number, v.user, v.term_reason, r.location, 'out'
    FROM vicidial_log v LEFT JOIN recording_log r ON r.vicidial_id = v.uniqueid
    WHERE v.start_epoch >= %s AND v.start_epoch < %s
    UNION ALL
    SELECT c.uniqueid, c.lead_id, c.list_id, c.campaign_id, c.start_epoch, c.length_in_sec,
           c.status, c.phone_number, c.user, c.term_reason, r.location, 'in'
    FROM vicidial_closer_log c
    LEFT JOIN recording_log r ON r.vicidial_id = CAST(c.closecallid AS CHAR)
    WHERE c.start_epoch >= %s AND c.start_epoch < %s
"""


class ViciDatabaseClient:
    """Reads ``vicidial_log``, ``vicidial_closer_log`` and ``recording_log`` of one server's
    database (``mysql://user:password@host:port/name``), streaming with a server-side cursor."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _connect(self):
        import pymysql

        parts = urlsplit(self.url)
        return pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/"),
            charset="utf8mb4",
            connect_timeout=10,
            read_timeout=300,
            cursorclass=pymysql.cursors.SSCursor,
        )

    def calls(
        self, since: datetime, until: datetime, chunk: int = 5000
    ) -> Iterator[list[CallRecord]]:
        """The calls in [since, until) as CallRecord chunks."""
        low, high = int(since.timestamp()), int(until.timestamp())
        conn = self._connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(VICI_QUERY, [low, high, low, high])
                while rows := cursor.fetchmany(chunk):
                    yield [_record_of(row) for row in rows if row[0]]
        finally:
            conn.close()


def _record_of(row: tuple) -> CallRecord:
    """One row of ``VICI_QUERY``."""
    return CallRecord(
        uniqueid=row[0],
        vici_lead_id=row[1],
        list_id=row[2],
        campaign=row[3] or "",
        call_time=datetime.fromtimestamp(int(row[0].split(".")[0]), tz=UTC),
        talk_seconds=row[5] or 0,
        status=row[6] or "",
        phone=row[7] or "",
        agent=row[8] or "",
        term_reason=row[9] or "",
        recording_url=row[10] or "",
        direction=row[11],
    )


# --- the Vici API's phone_number_log (servers without database access) ----------------------

PHONE_LOG_CHUNK = 100  # phone numbers per phone_number_log request


class PhoneLogReader:
    """``phone_number_log`` through the server's API client, a chunk of numbers a request.

    Its ``call_date`` is the server's local time; rows come back with their UTC time.
    """

    def __init__(self, client: ViciClient, *, timezone: str) -> None:
        self.client = client
        self.tz = zoneinfo.ZoneInfo(timezone or "UTC")

    def calls(
        self, numbers: list[str], since: datetime, until: datetime, *, wanted: Collection[str]
    ) -> Iterator[tuple[list[str], list[tuple[PhoneLogRow, datetime]]]]:
        """Per chunk of ``numbers``: the chunk and its rows in [since, until] whose phone is
        ``wanted``, each with its call time."""
        for start in range(0, len(numbers), PHONE_LOG_CHUNK):
            chunk = numbers[start : start + PHONE_LOG_CHUNK]
            rows = []
            for row in self.client.phone_number_log(phone_numbers=chunk, type_="ALL"):
                try:
                    at = (
                        datetime.fromisoformat(row.call_date)
                        .replace(tzinfo=self.tz)
                        .astimezone(UTC)
                    )
                except ValueError:
                    continue
                if since <= at <= until and row.phone_number in wanted:
                    rows.append((row, at))
            yield chunk, rows

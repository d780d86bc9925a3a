"""The outside sources of VICIdial calls: its database and its ``phone_number_log`` API.

Both return ``CallRecord``s (or rows to turn into them); the services decide what a call
means for a lead. ``CallRecord`` is also what the call-URL webhook builds.
"""

import zoneinfo
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from core.errors import ClientError
from core.secrets import scrub
from dialer.client import PhoneLogRow, ViciClient

if TYPE_CHECKING:
    import pymysql


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
    lead_hint: int | None = None  # our lead by the phone alone (phone_number_log rows)


def call_time_of(uniqueid: str) -> datetime:
    """Asterisk uniqueid is "<epoch>.<sequence>"."""
    epoch = uniqueid.split(".", 1)[0]
    if not (epoch.isascii() and epoch.isdigit()) or not 9 <= len(epoch) <= 11:
        raise ValueError(f"not an Asterisk uniqueid: {uniqueid!r}")
    return datetime.fromtimestamp(int(epoch), tz=UTC)


def _is_uniqueid(value: str | None) -> bool:
    try:
        call_time_of(value or "")
    except ValueError:
        return False
    return True


# --- the Vici database (a read-only MySQL/MariaDB account or replica) -----------------------

# A call's time is its uniqueid's epoch (dial time; ``start_epoch`` is answer time, on the
# next day for a call dialed just before midnight): calls are selected by it (a range of
# the uniqueid index) and bucketed by it. A call with several recordings (a restarted
# recording) is still one row: its latest recording with a location. The Vici lead's
# vendor_lead_code says which of our leads it is.
_RECORDING = """(SELECT r.location FROM recording_log r WHERE r.vicidial_id = {key}
    ORDER BY COALESCE(r.location, '') <> '' DESC, r.recording_id DESC LIMIT 1)"""
VICI_QUERY = f"""
    SELECT v.uniqueid, v.lead_id, v.list_id, v.campaign_id, v.length_in_sec, v.status,
           v.phone_number, v.user, v.term_reason, {_RECORDING.format(key="v.uniqueid")},
           l.vendor_lead_code, 'out'
    FROM vicidial_log v LEFT JOIN vicidial_list l ON l.lead_id = v.lead_id
    WHERE v.uniqueid >= %s AND v.uniqueid < %s
    UNION ALL
    SELECT c.uniqueid, c.lead_id, c.list_id, c.campaign_id, c.length_in_sec, c.status,
           c.phone_number, c.user, c.term_reason,
           {_RECORDING.format(key="CAST(c.closecallid AS CHAR)")}, l.vendor_lead_code, 'in'
    FROM vicidial_closer_log c LEFT JOIN vicidial_list l ON l.lead_id = c.lead_id
    WHERE c.uniqueid >= %s AND c.uniqueid < %s
    ORDER BY 1
"""


class ViciDatabaseError(ClientError):
    """The Vici database could not be read (the text never holds its password)."""


# MySQL error codes that trying again will not fix: access denied, unknown database, no
# such table or column, no rights on a table.
FINAL_MYSQL_ERRORS = {1044, 1045, 1049, 1054, 1142, 1146}


class ViciDatabaseClient:
    """Reads ``vicidial_log``, ``vicidial_closer_log``, ``vicidial_list`` and
    ``recording_log`` of one server's database (``mysql://user:password@host:port/name``),
    streaming with a server-side cursor."""

    def __init__(self, url: str) -> None:
        self.url = url

    def error(self, exc: Exception) -> ViciDatabaseError:
        """A driver error as a typed one, scrubbed of the URL's password."""
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        text = scrub(f"{type(exc).__name__}: {exc.args[-1] if exc.args else exc}", self.password)
        return ViciDatabaseError(
            f"Vici database: {text}"[:1000], retryable=code not in FINAL_MYSQL_ERRORS
        )

    @property
    def password(self) -> str:
        return unquote(urlsplit(self.url).password or "")

    def _connect(self) -> "pymysql.connections.Connection[pymysql.cursors.SSCursor]":
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
        """The calls dialed in [since, until) as CallRecord chunks, in uniqueid order (the
        rows of one call, such as both legs of a transfer, are next to each other)."""
        import pymysql

        low, high = f"{int(since.timestamp())}.", f"{int(until.timestamp())}."
        try:
            conn = self._connect()
            try:
                with conn.cursor() as cursor:
                    cursor.execute(VICI_QUERY, [low, high, low, high])
                    while rows := cursor.fetchmany(chunk):
                        yield [_record_of(row) for row in rows if _is_uniqueid(row[0])]
            finally:
                conn.close()
        except pymysql.err.MySQLError as exc:
            raise self.error(exc) from None


def _record_of(row: tuple[Any, ...]) -> CallRecord:
    """One row of ``VICI_QUERY``."""
    return CallRecord(
        uniqueid=row[0],
        vici_lead_id=row[1],
        list_id=row[2],
        campaign=row[3] or "",
        call_time=call_time_of(row[0]),
        talk_seconds=row[4] or 0,
        status=row[5] or "",
        phone=row[6] or "",
        agent=row[7] or "",
        term_reason=row[8] or "",
        recording_url=row[9] or "",
        vendor_lead_code=row[10] or "",
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

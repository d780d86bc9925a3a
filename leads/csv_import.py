"""CSV import through the intake service, with a per-row report (admin).

The upload is read as a stream (a text wrapper over the file, parsed row by row) and
taken in batches of ``CHUNK`` rows, so memory stays flat whatever the file's size; the
form caps the size (``CSV_IMPORT_MAX_BYTES``). Each row gets the API's answer in the
report (created, duplicate, suppressed, rejected with the reasons). Batches are committed
as they go: a broker or cache outage later on only costs the wake-up of routing (its
sweeper catches up) or the stored report, never the rows already imported.
"""

import csv
import io
import logging
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.cache import cache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from core.csv_safe import csv_writer
from leads.intake import CREATED, REJECTED, lead_ingest_batch, leads_announce
from leads.models import Workspace
from leads.normalize import STRING_FIELDS

logger = logging.getLogger(__name__)

CHUNK = 1000
REPORT_TTL = 24 * 3600
PROBLEMS_SHOWN = 20  # rejected rows named in the admin message when the report is lost
KNOWN_HEADERS = (set(STRING_FIELDS) | {"phone", "email"}) | {
    "consent_at",
    "consent_text",
    "consent_url",
    "consent_ip",
}
NOT_UTF8 = "The file is not UTF-8 text. Save it as CSV UTF-8 (in Excel: Save as > CSV UTF-8)."


class CsvImportError(ValueError):
    """The file as a whole cannot be imported (encoding, headers)."""


@dataclass
class ImportSummary:
    counts: Counter
    report_token: str | None  # None: the report could not be stored (cache down)
    rows: int
    problems: list[str] = field(default_factory=list)  # first rejected rows, for the message
    routing_woken: bool = True  # False: the broker was down (the routing sweeper catches up)


def parse_header(header: list[str]) -> list[str]:
    names = [h.strip().lower() for h in header]
    if not names or not any(names):
        raise CsvImportError("The file is empty or has no header row.")
    unknown = [h for h in names if h not in KNOWN_HEADERS and not h.startswith("custom_")]
    if unknown:
        raise CsvImportError(
            f"Unknown column(s): {', '.join(unknown)}. Known: {', '.join(sorted(KNOWN_HEADERS))}"
            ", plus custom_<key> columns."
        )
    if "phone" not in names and "email" not in names:
        raise CsvImportError("The file needs a 'phone' or an 'email' column.")
    if len(set(names)) != len(names):
        raise CsvImportError("A column name appears twice.")
    return names


def row_to_lead(names: list[str], values: list[str]) -> dict:
    lead: dict = {}
    custom: dict = {}
    consent: dict = {}
    for name, value in zip(names, values, strict=False):
        value = value.strip()
        if not value:
            continue
        if name.startswith("custom_"):
            custom[name[len("custom_") :]] = value
        elif name.startswith("consent_"):
            consent[name[len("consent_") :]] = value
        else:
            lead[name] = value
    if custom:
        lead["custom"] = custom
    if consent:
        lead["consent"] = consent
    return lead


class _Import:
    """The state of one import: the report, the counts and the batch being filled."""

    def __init__(self, workspace: Workspace, actor: str) -> None:
        self.workspace, self.actor = workspace, actor
        self.report = io.StringIO()
        self.writer = csv_writer(self.report)
        self.writer.writerow(["row", "status", "id", "duplicate_of", "errors"])
        self.counts: Counter = Counter()
        self.problems: list[str] = []
        self.chunk: list[tuple[int, dict | str]] = []  # (line, lead or the reason it is bad)
        self.rows = 0
        self.flushed = False
        self.announce = True

    def add(self, line: int, names: list[str], values: list[str]) -> None:
        if not any(v.strip() for v in values):
            return
        self.rows += 1
        if any("\x00" in v for v in values):
            self.chunk.append((line, "row: contains a NUL byte"))
        else:
            self.chunk.append((line, row_to_lead(names, values)))
        if len(self.chunk) >= CHUNK:
            self.flush()

    def reject(self, line: int, reason: str) -> None:
        self.counts[REJECTED] += 1
        self.writer.writerow([line, REJECTED, "", "", reason])
        if len(self.problems) < PROBLEMS_SHOWN:
            self.problems.append(f"row {line}: {reason}")

    def flush(self) -> None:
        chunk, self.chunk = self.chunk, []
        good = [(line, lead) for line, lead in chunk if isinstance(lead, dict)]
        results = iter(
            lead_ingest_batch(
                workspace=self.workspace,
                rows=[lead for _, lead in good],
                source="csv",
                actor=self.actor,
                announce=False,
            )
            if good
            else []
        )
        created = []
        for line, lead in chunk:
            if not isinstance(lead, dict):
                self.reject(line, lead)
                continue
            result = next(results)
            if result.status == REJECTED:
                self.reject(
                    line, "; ".join(f"{k}: {' '.join(v)}" for k, v in result.errors.items())
                )
                continue
            self.counts[result.status] += 1
            self.writer.writerow(
                [line, result.status, result.id or "", result.duplicate_of or "", ""]
            )
            if result.status == CREATED and result.id:
                created.append(result.id)
        self.flushed = True
        self._announce(created)

    def _announce(self, created: list[int]) -> None:
        # After the first failure (broker down) stop asking: each try costs the request time.
        if created and self.announce:
            self.announce = leads_announce(workspace_id=self.workspace.id, lead_ids=created)


def _rows(stream: IO[str]) -> tuple[list[str], Any]:
    reader = csv.reader(stream)
    try:
        return parse_header(next(reader)), reader
    except StopIteration:
        raise CsvImportError("The file is empty.")
    except UnicodeDecodeError:
        raise CsvImportError(NOT_UTF8)
    except csv.Error as exc:
        raise CsvImportError(f"Not a readable CSV file: {exc}")


def csv_import(*, workspace: Workspace, file: IO[bytes], actor: str) -> ImportSummary:
    """Import every row of the binary ``file``; counts and a token for the report."""
    stream = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    names, reader = _rows(stream)
    state = _Import(workspace, actor)
    line = 1
    try:
        for line, values in enumerate(reader, start=2):
            state.add(line, names, values)
    except UnicodeDecodeError:
        if not state.flushed:
            raise CsvImportError(NOT_UTF8)
        state.flush()
        state.reject(line + 1, "not UTF-8 from here on: the rest of the file was not read")
    except csv.Error as exc:
        state.flush()
        state.reject(line + 1, f"unreadable CSV: {exc}")
    if state.chunk:
        state.flush()
    stream.detach()  # the caller's file stays open
    return ImportSummary(
        counts=state.counts,
        report_token=_store_report(state.report.getvalue(), actor),
        rows=state.rows,
        problems=state.problems,
        routing_woken=state.announce,
    )


def _store_report(report: str, actor: str) -> str | None:
    token = secrets.token_urlsafe(16)
    try:
        cache.set(f"csv-report:{token}", {"actor": actor, "csv": report}, REPORT_TTL)
    except (ConnectionInterrupted, RedisError):
        logger.warning("the CSV import report could not be stored (cache down)")
        return None
    return token


def csv_report(token: str, *, actor: str) -> str | None:
    """The per-row report of an import, for the person who ran it only."""
    try:
        stored = cache.get(f"csv-report:{token}")
    except (ConnectionInterrupted, RedisError):
        return None
    if not isinstance(stored, dict) or stored.get("actor") != actor:
        return None
    return str(stored["csv"])

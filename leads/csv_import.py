"""CSV import through the intake service, with a per-row report (admin)."""

import csv
import io
import secrets
from collections import Counter
from dataclasses import dataclass

from django.core.cache import cache

from leads.intake import lead_ingest_batch
from leads.models import Workspace
from leads.normalize import STRING_FIELDS

CHUNK = 1000
REPORT_TTL = 24 * 3600
KNOWN_HEADERS = (set(STRING_FIELDS) | {"phone", "email"}) | {
    "consent_at",
    "consent_text",
    "consent_url",
    "consent_ip",
}


class CsvImportError(ValueError):
    """The file as a whole cannot be imported (encoding, headers)."""


@dataclass
class ImportSummary:
    counts: Counter
    report_token: str
    rows: int


def decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-8"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CsvImportError(
        "The file is not UTF-8 text. Save it as CSV UTF-8 (in Excel: Save as > CSV UTF-8)."
    )


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


def csv_import(*, workspace: Workspace, raw: bytes, actor: str) -> ImportSummary:
    """Import every row; returns counts and a token for the downloadable report."""
    reader = csv.reader(io.StringIO(decode(raw)))
    try:
        names = parse_header(next(reader))
    except StopIteration:
        raise CsvImportError("The file is empty.")
    except csv.Error as exc:
        raise CsvImportError(f"Not a readable CSV file: {exc}")
    report = io.StringIO()
    writer = csv.writer(report)
    writer.writerow(["row", "status", "id", "duplicate_of", "errors"])
    counts: Counter = Counter()
    total = 0

    def flush(chunk: list[tuple[int, dict]]) -> None:
        rows = [lead for _, lead in chunk]
        results = lead_ingest_batch(workspace=workspace, rows=rows, source="csv", actor=actor)
        for result in results:
            counts[result.status] += 1
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in result.errors.items())
            writer.writerow(
                [
                    chunk[result.index][0],
                    result.status,
                    result.id or "",
                    result.duplicate_of or "",
                    errors,
                ]
            )

    chunk: list[tuple[int, dict]] = []
    line_no = 1
    try:
        for line_no, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            chunk.append((line_no, row_to_lead(names, values)))
            total += 1
            if len(chunk) >= CHUNK:
                flush(chunk)
                chunk = []
    except csv.Error as exc:
        counts["rejected"] += 1
        writer.writerow([line_no + 1, "rejected", "", "", f"unreadable CSV: {exc}"])
    if chunk:
        flush(chunk)
    token = secrets.token_urlsafe(16)
    cache.set(f"csv-report:{token}", {"actor": actor, "csv": report.getvalue()}, REPORT_TTL)
    return ImportSummary(counts=counts, report_token=token, rows=total)


def csv_report(token: str, *, actor: str) -> str | None:
    """The per-row report of an import, for the person who ran it only."""
    stored = cache.get(f"csv-report:{token}")
    if not isinstance(stored, dict) or stored.get("actor") != actor:
        return None
    return str(stored["csv"])

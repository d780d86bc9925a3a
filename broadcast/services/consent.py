"""Consent: may this lead be contacted now? One definition, applied when a lead is enrolled
(``SUPPRESSED_SQL`` in the enrollment read) and again for every message the dispatcher
claims and just before it is sent (``consent_read`` and ``consent_verdict``)."""

from typing import Any

from broadcast.models import Enrollment
from core.db import json_value

CANCEL = "cancel"


def consent_verdict(check: dict[str, Any] | None) -> str:
    """'' to send; CANCEL when the enrollment is no longer active; else why to stop it."""
    if check is None or check["enrollment_status"] != Enrollment.Status.ACTIVE:
        return CANCEL
    if check["suppressed"]:
        return "suppressed"
    if check["lead_status"] in check["stop_statuses"]:
        return f"lead is {check['lead_status']}"
    return ""


# Is the lead (alias l; its phone in ``{phone}``) on a do-not-contact list that applies?
SUPPRESSED_SQL = (
    "EXISTS (SELECT 1 FROM leads_suppression x WHERE "
    "(x.workspace_id IS NULL OR x.workspace_id = l.workspace_id) AND "
    "((x.kind = 'phone' AND x.value = {phone}) OR "
    "(x.kind = 'email' AND l.email <> '' AND x.value = l.email)))"
)


def consent_read(cursor, enrollment_ids: list[int]) -> dict[int, dict[str, Any]]:
    cursor.execute(
        "SELECT e.id, e.status, e.timezone, e.phone, l.status, s.window_start, s.window_end, "
        f"s.stop_statuses, s.is_active, {SUPPRESSED_SQL.format(phone='e.phone')} "
        "FROM broadcast_enrollment e JOIN broadcast_sequence s ON s.id = e.sequence_id "
        "LEFT JOIN leads_lead l ON l.id = e.lead_id WHERE e.id = ANY(%s)",
        [enrollment_ids],
    )
    keys = (
        "enrollment_status",
        "timezone",
        "phone",
        "lead_status",
        "window_start",
        "window_end",
        "stop_statuses",
        "sequence_active",
        "suppressed",
    )
    found = {}
    for row in cursor.fetchall():
        check = dict(zip(keys, row[1:], strict=True))
        check["stop_statuses"] = set(json_value(check["stop_statuses"]) or [])
        found[row[0]] = check
    return found

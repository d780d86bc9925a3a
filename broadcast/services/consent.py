"""Consent: may this lead be contacted now? One definition (``leads.selectors``'
``LEAD_UNREACHABLE_SQL``: a DNC or suppressed status, or a suppression of the lead's phone
or email), applied when a lead is enrolled (``UNREACHABLE_SQL`` in the enrollment read) and
again for every message the dispatcher claims and just before it is sent (``consent_read``
and ``consent_verdict``), where the number the enrollment sends to is checked too."""

from typing import Any

from django.db.backends.utils import CursorWrapper

from broadcast.models import Enrollment
from core.db import json_value
from leads.suppressions import LEAD_UNREACHABLE_SQL

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


# Must the lead (alias l) not be contacted? The one rule, from the leads app.
UNREACHABLE_SQL = LEAD_UNREACHABLE_SQL
# ... nor the number its enrollment sends to (alias e; the lead's phone when it enrolled).
_SEND_TO_SUPPRESSED_SQL = (
    "EXISTS (SELECT 1 FROM leads_suppression x WHERE x.kind = 'phone' AND x.value = e.phone "
    "AND (x.workspace_id IS NULL OR x.workspace_id = l.workspace_id))"
)


def consent_read(cursor: CursorWrapper, enrollment_ids: list[int]) -> dict[int, dict[str, Any]]:
    cursor.execute(
        "SELECT e.id, e.status, e.timezone, e.phone, l.status, s.window_start, s.window_end, "
        "s.stop_statuses, s.is_active, "
        f"COALESCE({UNREACHABLE_SQL} OR {_SEND_TO_SUPPRESSED_SQL}, false) "
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

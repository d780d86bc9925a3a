"""The copy of each row's lead scope, re-checked for the newest messages (see
``core.db.newest_rows_restamp``)."""

from core.db import newest_rows_restamp
from leads.selectors import lead_scope_stale_sql


def message_lead_scope_recheck() -> int:
    """Stamp again the newest messages whose copy of their lead's scope is stale: rows fixed."""
    return newest_rows_restamp("broadcast_message", lead_scope_stale_sql("t"))

"""The copy of each row's lead scope, re-checked for the newest outbox items (see
``core.db.newest_rows_restamp``)."""

from core.db import newest_rows_restamp
from leads.selectors import lead_scope_stale_sql


def outbox_lead_scope_recheck() -> int:
    """Stamp again the newest outbox items whose copy of their lead's scope is stale: rows fixed."""
    return newest_rows_restamp("dialer_outboxitem", lead_scope_stale_sql("t"))

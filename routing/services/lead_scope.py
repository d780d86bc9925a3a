"""The copy of each routing log row's lead scope, re-checked for the newest rows (see
``core.db.newest_rows_restamp``)."""

from core.db import newest_rows_restamp
from leads.selectors import lead_scope_stale_sql


def routinglog_lead_scope_recheck() -> int:
    """Stamp again the newest routing log rows whose copy of their lead's scope is stale."""
    return newest_rows_restamp("routing_routinglog", lead_scope_stale_sql("t"))

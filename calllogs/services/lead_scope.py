"""The copy of each row's lead scope, re-checked for the newest call logs (see
``core.db.newest_rows_restamp``)."""

from core.db import newest_rows_restamp
from leads.selectors import lead_scope_stale_sql


def calllog_lead_scope_recheck() -> int:
    """Stamp again the newest call logs whose copy of their lead's scope is stale: rows fixed."""
    return newest_rows_restamp("calllogs_calllog", lead_scope_stale_sql("t"))

"""The copy of each outbox item's lead scope (``lead_workspace_id``, ``lead_destination_id``),
re-checked for the rows written in the last few minutes.

The database triggers stamp a row from its lead when it is written and follow the lead
when it moves; a row inserted while its lead's reroute is still uncommitted is stamped
from the lead as it was, and the reroute's follow-up cannot see that row yet. The
manager's lists probe the lead on every page they show, so such a row is never shown to a
workspace its lead has left; this re-check (each minute, from beat) also shows it to the
workspace its lead went to.
"""

from django.db import connection

from core.db import recheck_floor
from leads.selectors import lead_scope_stale_sql

TABLE = "dialer_outboxitem"


def outbox_lead_scope_recheck() -> int:
    """Stamp again the newest outbox items whose copy of their lead's scope is stale: rows fixed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM dialer_outboxitem")
        after = recheck_floor(TABLE, cursor.fetchone()[0])
        if after is None:
            return 0
        # Setting lead_id to itself fires the stamp trigger, which reads the lead again.
        cursor.execute(
            f"UPDATE dialer_outboxitem t SET lead_id = t.lead_id "
            f"WHERE t.id > %s AND {lead_scope_stale_sql('t')}",
            [after],
        )
        return int(cursor.rowcount)

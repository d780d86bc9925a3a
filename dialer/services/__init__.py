"""Dialer services: the VICIdial outbox and its drain.

``outbox``: enqueue (routing, lead edits, statuses) and retry; ``drain``: claim, send and
record; ``servers``: hourly call budget, pause and resume; ``credentials``: the API password;
``config``: saving and deleting servers and lists (the admin and the configuration API).
"""

from dialer.services.config import (
    server_delete,
    server_save,
    vici_list_delete,
    vici_list_save,
)
from dialer.services.credentials import (
    client_for,
    password_problem,
    server_password,
    server_resume,
    server_set_password,
)
from dialer.services.drain import outbox_drain
from dialer.services.lead_scope import outbox_lead_scope_recheck
from dialer.services.outbox import (
    VICI_FIELDS,
    outbox_cancel,
    outbox_cancel_for_leads,
    outbox_enqueue_add,
    outbox_enqueue_dnc,
    outbox_enqueue_move,
    outbox_enqueue_status,
    outbox_enqueue_update,
    outbox_retry,
    outbox_retry_all_failed,
)
from dialer.services.pipeline import DrainStats
from dialer.services.send import Outcome
from dialer.services.servers import (
    calls_release,
    calls_reserve,
    server_alert_add,
    server_alert_clear,
    server_assert_open,
    server_pause,
)

__all__ = [
    "outbox_lead_scope_recheck",
    "VICI_FIELDS",
    "DrainStats",
    "Outcome",
    "calls_release",
    "calls_reserve",
    "client_for",
    "outbox_cancel",
    "outbox_cancel_for_leads",
    "outbox_drain",
    "outbox_enqueue_add",
    "outbox_enqueue_dnc",
    "outbox_enqueue_move",
    "outbox_enqueue_status",
    "outbox_enqueue_update",
    "outbox_retry",
    "outbox_retry_all_failed",
    "password_problem",
    "server_alert_add",
    "server_alert_clear",
    "server_assert_open",
    "server_password",
    "server_pause",
    "server_delete",
    "server_resume",
    "server_save",
    "server_set_password",
    "vici_list_delete",
    "vici_list_save",
]

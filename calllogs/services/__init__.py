"""Call logs: one upsert for the webhook, the hourly sync and the nightly reconciliation.

By flow: ``webhook`` (call-URL intake), ``drain`` (stored events and their dead letters),
``sync`` (hourly, from the Vici database or ``phone_number_log``), ``reconcile``
(nightly), all through ``upsert`` (the commutative ``CallRecord`` upsert and the
disposition actions); ``hooks`` gives every server its call-URL hook. The outside sources
themselves are in ``calllogs.client``.
"""

from calllogs.client import CallRecord, call_time_of
from calllogs.services.drain import webhook_dead_letters_retry, webhook_events_drain
from calllogs.services.hooks import server_hook_ensure, server_hooks_ensure
from calllogs.services.lead_scope import calllog_lead_scope_recheck
from calllogs.services.reconcile import calllogs_reconcile
from calllogs.services.sync import calllogs_sync, phone_log_calls
from calllogs.services.upsert import ACTION_STATUS, PATHS, UpsertStats, call_log_upsert_many
from calllogs.services.webhook import (
    record_from_webhook,
    webhook_event_store,
    webhook_receive,
    webhook_server,
    webhook_url,
)

__all__ = [
    "calllog_lead_scope_recheck",
    "ACTION_STATUS",
    "PATHS",
    "CallRecord",
    "UpsertStats",
    "call_log_upsert_many",
    "call_time_of",
    "calllogs_reconcile",
    "calllogs_sync",
    "phone_log_calls",
    "record_from_webhook",
    "server_hook_ensure",
    "server_hooks_ensure",
    "webhook_dead_letters_retry",
    "webhook_event_store",
    "webhook_events_drain",
    "webhook_receive",
    "webhook_server",
    "webhook_url",
]

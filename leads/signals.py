"""Signals of the leads app (news travels upward; receivers only enqueue work).

``leads_ingested``: sent with ``transaction.on_commit`` after intake stored new leads.
Arguments: ``workspace_id`` (int) and ``lead_ids`` (list[int]) of leads created with
status ``pending``. The routing app's receiver enqueues routing; a sweeper catches misses.
"""

from django.dispatch import Signal

leads_ingested = Signal()

"""Signals of the leads app (news travels upward; receivers only enqueue work).

``leads_ingested``: sent with ``transaction.on_commit`` when leads wait for routing: new
ones from intake, or one sent back by a reroute. Arguments: ``workspace_id`` (int) and
``lead_ids`` (list[int]) of leads with status ``pending``. The routing app's receiver
wakes routing; a sweeper catches misses.

``lead_changed``: on commit after ``lead_update`` changed fields. Arguments: ``lead_ids``,
``fields`` (name -> new value) and ``actor``. The dialer enqueues a VICIdial update.

``lead_status_changed``: on commit after ``lead_status_set``. Arguments: ``lead_ids``,
``status`` and ``actor``. The dialer mirrors closing statuses (DNC...) into VICIdial.
"""

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

leads_ingested = Signal()
lead_changed = Signal()
lead_status_changed = Signal()


def send_on_commit(signal: Signal, **kwargs) -> None:
    """Send after the current transaction commits; a failing receiver is logged, not raised
    (the change is already stored, and each receiver has its own sweeper or retry)."""

    def send() -> None:
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                logger.error("receiver %r failed: %r", receiver, result)

    transaction.on_commit(send)

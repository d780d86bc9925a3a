"""Dialer services. Routing calls these to enqueue pushes (implemented by the dialer issue)."""

from collections.abc import Sequence


def outbox_enqueue_add(*, lead_ids: Sequence[int], vici_list_id: int) -> int:
    """Enqueue an add_lead of each lead into the ViciList ``vici_list_id``. Idempotent.

    Returns how many new outbox items were created. Called inside the routing transaction.
    """
    return 0


def outbox_enqueue_move(*, lead_ids: Sequence[int], vici_list_id: int) -> int:
    """Enqueue a move (update_lead list_id_field) of each lead to ``vici_list_id``. Idempotent."""
    return 0

"""Broadcast services. Routing and call logs call these (implemented by the broadcast issue)."""

from collections.abc import Sequence


def enrollment_create_many(*, lead_ids: Sequence[int], sequence_id: int) -> int:
    """Enroll leads in a sequence (one enrollment + one first message each). Idempotent.

    Returns how many new enrollments were created.
    """
    return 0


def enrollment_stop_for_leads(*, lead_ids: Sequence[int], reason: str) -> int:
    """Stop every active enrollment of these leads (DNC, sale, opt-out). Returns the count."""
    return 0

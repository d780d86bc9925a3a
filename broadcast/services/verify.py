"""At most once: a send whose outcome is unknown is looked up on the gateway, not repeated.

Before a request for a message leaves for the gateway, the message's ``attempted_at`` is
set and committed (``attempts_mark``, in the same transaction as the last consent check).
If the outcome of that attempt is then lost (the dispatcher was killed, its connection or
its record was lost and the lease ran out, the request timed out), the message comes back
with ``attempted_at`` set, and the next attempt first lists what the device's session sent
to the recipient since then (``sent_found``): a message with the same text, not already
recorded for another message of the lead, is this one, and it is recorded as sent with the
gateway's id instead of being sent again. A gateway that cannot answer the listing gets no
send: the attempt fails and is retried later.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from broadcast.client import GatewayClient, GatewayMessage
from broadcast.models import Message
from core.db import unnest_columns

if TYPE_CHECKING:
    from broadcast.services.dispatch import Claim

# How far before the first attempt the listing starts: the gateway stamps messages with its
# own clock (whole seconds), which may be a little behind ours.
CLOCK_MARGIN = timedelta(seconds=60)


def attempts_mark(cursor: CursorWrapper, claims: list[Claim], now: datetime | None = None) -> None:
    """The requests for these claims are about to leave: commit that before they do."""
    if not claims:
        return
    cursor.execute(
        "UPDATE broadcast_message m SET attempted_at = COALESCE(m.attempted_at, %s) "
        "FROM unnest(%s::bigint[], %s::timestamptz[]) k(id, at) "
        "WHERE m.id = k.id AND m.scheduled_at = k.at AND m.status = %s",
        [
            now or timezone.now(),
            *unnest_columns([(c.message_id, c.scheduled_at) for c in claims]),
            Message.Status.SENDING,
        ],
    )


def known_ids_read(cursor: CursorWrapper, claims: list[Claim]) -> None:
    """For the claims whose earlier attempt has an unknown outcome: the gateway ids already
    recorded for their leads' other messages since then (not theirs, whatever the text)."""
    doubtful = [c for c in claims if c.attempted_at is not None]
    if not doubtful:
        return
    since = min(c.attempted_at for c in doubtful if c.attempted_at) - CLOCK_MARGIN
    cursor.execute(
        "SELECT lead_id, gateway_id FROM broadcast_message WHERE lead_id = ANY(%s) "
        "AND gateway_id <> '' AND sent_at >= %s",
        [list({c.lead_id for c in doubtful}), since],
    )
    known: dict[int, set[str]] = {}
    for lead_id, gateway_id in cursor.fetchall():
        known.setdefault(lead_id, set()).add(gateway_id)
    for claim in doubtful:
        claim.known_ids = frozenset(known.get(claim.lead_id, ()))


def sent_found(client: GatewayClient, claim: Claim) -> GatewayMessage | None:
    """The gateway's record of this claim's message if an earlier attempt reached it; None
    if none did. GatewayError if the gateway cannot tell (then nothing is sent)."""
    if claim.attempted_at is None:
        return None
    listed = client.sent_since(phone=claim.phone, since=claim.attempted_at - CLOCK_MARGIN)
    body, attempted = claim.body.strip(), claim.attempted_at
    for message in sorted(listed, key=lambda m: m.at or attempted):
        if message.gateway_id in claim.known_ids or message.body.strip() != body:
            continue
        if bool(claim.media_url) and not message.has_media:
            continue
        return message
    return None

"""Whose call is it: our lead for each call record, and how sure we are.

A Vici lead we pushed carries our lead id as its ``vendor_lead_code``: that decides first,
always. Only without one (a No-Agent URL, a lead someone else loaded) does the Vici lead id
decide, and only when exactly one of our leads holds it on this server (two of our leads may
end up on one Vici lead, or share a phone); a ``phone_number_log`` row's phone comes last.
The strongest match wins when paths disagree (``lead_match`` on the call log).
"""

from django.db import connection

from calllogs.client import CallRecord
from leads.models import Lead

MATCH_NONE, MATCH_PHONE, MATCH_VICI, MATCH_VENDOR = 0, 1, 2, 3
MAX_LEAD_ID = 2**63 - 1


def our_id(vendor_lead_code: str) -> int | None:
    """The lead id a vendor_lead_code names (we push leads with their id there)."""
    code = vendor_lead_code.strip()
    if code.isascii() and code.isdigit() and len(code) <= 19 and int(code) <= MAX_LEAD_ID:
        return int(code)
    return None


def leads_resolve(*, server_id: int, records: list[CallRecord]) -> list[tuple[int | None, int]]:
    """(our lead id or None, match strength) per record, in order. Three queries at most."""
    named = {n for r in records for n in (our_id(r.vendor_lead_code), r.lead_hint) if n}
    existing = (
        set(Lead.objects.filter(id__in=named).values_list("id", flat=True)) if named else set()
    )
    holders = _vici_holders(server_id, {r.vici_lead_id for r in records if r.vici_lead_id})
    result: list[tuple[int | None, int]] = []
    for r in records:
        code = our_id(r.vendor_lead_code)
        by_vici = _one_holder(holders.get(r.vici_lead_id or 0, []), r.list_id)
        if code in existing:
            result.append((code, MATCH_VENDOR))
        elif by_vici is not None:
            result.append((by_vici, MATCH_VICI))
        elif r.lead_hint in existing:
            result.append((r.lead_hint, MATCH_PHONE))
        else:
            result.append((None, MATCH_NONE))
    return result


def _vici_holders(
    server_id: int, vici_ids: set[int]
) -> dict[int, list[tuple[int, int | None, bool]]]:
    """Vici lead id -> our leads holding it: (lead id, Vici list number, on this server)."""
    if not vici_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.vici_lead_id, l.id, l.vici_list_number, EXISTS (SELECT 1 FROM "
            "dialer_vicilist vl WHERE vl.server_id = %s AND vl.list_id = l.vici_list_number) "
            "FROM leads_lead l WHERE l.vici_lead_id = ANY(%s) ORDER BY l.id",
            [server_id, sorted(vici_ids)],
        )
        rows = cursor.fetchall()
    holders: dict[int, list[tuple[int, int | None, bool]]] = {}
    for vici_id, lead_id, list_number, on_server in rows:
        holders.setdefault(vici_id, []).append((lead_id, list_number, on_server))
    return holders


def _one_holder(holders: list[tuple[int, int | None, bool]], list_id: int | None) -> int | None:
    """The one lead among these, narrowed by server, then by the call's list; never a guess."""
    for keep in (lambda h: True, lambda h: h[2], lambda h: h[2] and h[1] == list_id):
        holders = [h for h in holders if keep(h)]
        if len(holders) == 1:
            return holders[0][0]
    return None

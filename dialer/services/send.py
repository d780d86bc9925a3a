"""Sending one outbox item to VICIdial: the answer becomes its ``Outcome`` (no database)."""

from dataclasses import dataclass, field
from typing import Any

from core.errors import ClientError
from dialer.client import (
    AddLeadResult,
    UpdateLeadResult,
    ViciClient,
    ViciDncError,
    ViciListMissingError,
    ViciLoginError,
    ViciNotFoundError,
    ViciPermissionError,
    ViciTransportError,
    split_phone,
)
from dialer.models import OutboxItem, ViciList


@dataclass
class Outcome:
    item_id: int
    lead_id: int
    state: str
    vici_lead_id: int | None = None
    raw: str = ""
    error: str = ""
    message: str = ""
    login_failed: bool = False
    code: str = ""  # why it did not go: login, transport, not_found, list_missing, vici_error...
    operation: str = ""
    payload: dict[str, Any] = field(default_factory=dict)  # what was sent (may grow meanwhile)
    duplicate: bool = False  # add_lead named a Vici lead that already holds the phone
    details: dict[str, Any] = field(default_factory=dict)  # our ids for the event's data


def _add(client: ViciClient, item: dict[str, Any], target: ViciList, out: Outcome) -> None:
    lead = item["lead"]
    phone_code, national = split_phone(lead["phone"]) if lead["phone"] else ("1", "")
    duplicate_check = target.duplicate_check or "DUPLIST"
    if target.duplicate_check_days:
        duplicate_check += f"{target.duplicate_check_days}DAY"
    result: AddLeadResult = client.add_lead(
        phone_number=national,
        phone_code=phone_code,
        list_id=target.list_id,
        campaign_dnc=target.campaign_id if target.campaign_dnc_check else "",
        duplicate_check=duplicate_check,
        add_to_hopper=target.add_to_hopper,
        hopper_priority=target.hopper_priority,
        vendor_lead_code=str(item["lead_id"]),
        first_name=lead["first_name"],
        last_name=lead["last_name"],
        email=lead["email"],
        state=lead["state"],
        postal_code=lead["postal_code"],
    )
    out.vici_lead_id, out.raw, out.duplicate = result.lead_id, result.raw, result.duplicate
    out.message = (
        f"Already in VICIdial as lead {result.lead_id} (duplicate in "
        f"{result.duplicate_kind.lower()}); linked"
        if result.duplicate
        else f"Pushed to VICIdial list {target.list_id} as lead {result.lead_id}"
    )


def _update(client: ViciClient, item: dict[str, Any], target: ViciList, out: Outcome) -> None:
    fields = dict(item["payload"] or {})
    if item["operation"] == OutboxItem.Operation.MOVE:
        fields["list_id_field"] = target.list_id
    vici_lead_id = item["lead"]["vici_lead_id"]
    update: UpdateLeadResult
    if vici_lead_id:
        update = client.update_lead(lead_id=vici_lead_id, **fields)
    else:  # last resort: VICIdial has no index on vendor_lead_code (1-2 s a lookup)
        update = client.update_lead(vendor_lead_code=str(item["lead_id"]), **fields)
    out.vici_lead_id = update.lead_ids[0] if update.lead_ids else vici_lead_id
    out.raw = update.raw
    out.message = {
        OutboxItem.Operation.MOVE: f"Moved in VICIdial to list {target.list_id}",
        OutboxItem.Operation.STATUS: f"VICIdial status set to {fields.get('status')}",
    }.get(item["operation"], "Updated in VICIdial: " + ", ".join(sorted(fields)))


def _dnc(client: ViciClient, item: dict[str, Any], out: Outcome) -> None:
    """Put the lead's phone (as it was when the lead became do-not-contact) on the server's
    system DNC list, so no list, campaign or manual dial there reaches it."""
    result = client.add_dnc_phone(phone_number=item["payload"]["phone_number"])
    out.raw = result.raw
    out.message = (
        "Phone added to the VICIdial DNC list"
        if result.added
        else "Phone already on the VICIdial DNC list"
    )


def item_send(client: ViciClient, item: dict[str, Any], lists: dict[int, ViciList]) -> Outcome:
    """Send one item; VICIdial's answer becomes the item's outcome (never raises)."""
    out = Outcome(
        item_id=item["id"],
        lead_id=item["lead_id"],
        state=OutboxItem.State.SENT,
        operation=item["operation"],
        payload=item["payload"] or {},
    )
    dnc = item["operation"] == OutboxItem.Operation.DNC
    if item["lead"] is None and not dnc:
        out.state, out.error, out.code = OutboxItem.State.FAILED, "the lead is gone", "lead_gone"
        return out
    try:
        if dnc:
            _dnc(client, item, out)
        elif item["operation"] == OutboxItem.Operation.ADD:
            _add(client, item, lists[item["vici_list_id"]], out)
        else:
            _update(client, item, lists[item["vici_list_id"]], out)
    except ClientError as exc:  # the client scrubbed every form of the password out of it
        out.error, out.raw = exc.message, exc.raw
        out.state = OutboxItem.State.PENDING if exc.retryable else OutboxItem.State.FAILED
        out.code = _code(exc)
        if isinstance(exc, ViciLoginError):
            out.state, out.login_failed = OutboxItem.State.PENDING, True
    return out


def _code(exc: ClientError) -> str:
    if isinstance(exc, ViciLoginError):
        return "login"
    if isinstance(exc, ViciDncError):
        return "vici_campaign_dnc" if "CAMPAIGN DNC" in exc.message else "vici_dnc"
    if isinstance(exc, ViciPermissionError):
        return "permission"
    if isinstance(exc, ViciListMissingError):
        return "list_missing"
    if isinstance(exc, ViciNotFoundError):
        return "not_found"
    if isinstance(exc, ViciTransportError):
        return "transport"
    return "vici_error"

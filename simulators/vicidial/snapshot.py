"""The simulator's ``vicidial_list`` and settings on disk, so a restarted ``make run``
finds the leads it was given before (VICIdial keeps them; an in-memory simulator would
answer "NO MATCHES FOUND" to every update of an earlier lead)."""

import json
import os
from datetime import datetime
from pathlib import Path

from simulators.vicidial.api import Campaign, ViciApi


def save(api: ViciApi, path: Path) -> None:
    """Write the leads, lists, campaigns, DNC lists and the next lead id (atomically)."""
    state = api.state
    data = {
        "next_id": state.next_id,
        "lists": state.lists,
        "campaigns": [vars(c) for c in state.campaigns.values()],
        "dnc": sorted(state.dnc),
        "leads": [
            {**lead, "entry_date": lead["entry_date"].isoformat()} for lead in state.leads.values()
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


def load(api: ViciApi, path: Path) -> bool:
    """Read what ``save`` wrote (False when there is nothing to read)."""
    if not path.exists():
        return False
    data = json.loads(path.read_text())
    state = api.state
    state.next_id = max(state.next_id, int(data["next_id"]))
    state.lists.update({int(k): v for k, v in data["lists"].items()})
    for campaign in data["campaigns"]:
        state.campaigns[campaign["campaign_id"]] = Campaign(**campaign)
    state.dnc.update(data["dnc"])
    for lead in data["leads"]:
        lead["entry_date"] = datetime.fromisoformat(lead["entry_date"])
        state.leads[lead["lead_id"]] = lead
        state.by_phone.setdefault(lead["phone_number"], []).append(lead["lead_id"])
    return True

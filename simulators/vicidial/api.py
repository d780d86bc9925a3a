"""The VICIdial Non-Agent API (``non_agent_api.php``) as the simulator speaks it.

It keeps ``vicidial_list``, the lists, the system and campaign DNC lists and the API users
in memory, applies the API's input sanitising, login rules (the 10-bad-logins lockout and
the echo of the password stripped to ``[-_0-9a-zA-Z]``), permission checks, list, DNC and
duplicate checks in the real order, and answers with the exact lines of the real script
(VICIDIAL.md sections 1 and 3b). ``server.ViciSimulator`` serves it over HTTP.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from simulators.vicidial.sanitise import LEAD_FIELDS, SANITISE

LOCK_AFTER = 10
LOCK_MINUTES = 15


@dataclass
class ApiUser:
    password: str
    level: int = 8
    failed: int = 0
    locked_until: datetime | None = None
    modify_lists: bool = True  # vicidial_users.modify_lists: add_dnc_phone needs it
    allowed_functions: str = " ALL_FUNCTIONS "  # vicidial_users.api_allowed_functions


@dataclass
class Campaign:
    """A ``vicidial_campaigns`` row as far as the simulator needs it: whether it dials and
    its call URLs (set on the campaign screen of admin.php in a real VICIdial)."""

    campaign_id: str
    active: bool = True
    start_call_url: str = ""
    dispo_call_url: str = ""
    na_call_url: str = ""


@dataclass
class ViciState:
    users: dict[str, ApiUser] = field(default_factory=dict)
    lists: dict[int, str] = field(default_factory=dict)  # list_id -> campaign_id
    leads: dict[int, dict] = field(default_factory=dict)
    calls: list[dict] = field(default_factory=list)  # for phone_number_log
    by_phone: dict[str, list[int]] = field(default_factory=dict)  # index, like Vici's
    next_id: int = 1
    requests: list[dict] = field(default_factory=list)
    dnc: set[str] = field(default_factory=set)  # vicidial_dnc
    campaign_dnc: dict[str, set[str]] = field(default_factory=dict)  # vicidial_campaign_dnc
    other_campaign_dnc: dict[str, str] = field(default_factory=dict)  # use_other_campaign_dnc
    campaigns: dict[str, Campaign] = field(default_factory=dict)


class ViciApi:
    """The API's state and its answers (no HTTP here)."""

    def __init__(self, *, user: str = "crmapi", password: str = "Secret123") -> None:
        self.state = ViciState(users={user: ApiUser(password=password)})

    def add_list(self, list_id: int, campaign_id: str = "TESTCAMP") -> None:
        self.state.lists[list_id] = campaign_id
        self.state.campaigns.setdefault(campaign_id, Campaign(campaign_id))

    def set_campaign(self, campaign_id: str, **settings: str | bool) -> Campaign:
        """Create or change a campaign (``active``, ``start_call_url``, ``dispo_call_url``,
        ``na_call_url``)."""
        campaign = self.state.campaigns.setdefault(campaign_id, Campaign(campaign_id))
        for name, value in settings.items():
            if not hasattr(campaign, name) or name == "campaign_id":
                raise ValueError(f"unknown campaign setting {name!r}")
            setattr(campaign, name, value)
        return campaign

    def add_dnc(self, phone: str, campaign_id: str = "SYSTEM_INTERNAL") -> None:
        """A number on VICIdial's system DNC list, or on a campaign's."""
        if campaign_id == "SYSTEM_INTERNAL":
            self.state.dnc.add(phone)
        else:
            self.state.campaign_dnc.setdefault(campaign_id, set()).add(phone)

    # --- the API ---------------------------------------------------------------------------

    def handle(self, raw: str) -> str:
        params: dict[str, str] = {}
        for key, values in parse_qs(raw, keep_blank_values=True).items():
            value = values[0]
            params[key] = SANITISE[key](value) if key in SANITISE else value
        self.state.requests.append(params)
        function = params.get("function", "")
        if function == "version":
            return (
                "VERSION: 2.14-202|BUILD: 250720-1841|DATE: 2026-11-22 08:07:28|"
                "EPOCH: 1795334848|DST: 0|TZ: |TZNOW: 0|\n"
            )
        login = self._login(params.get("user", ""), params.get("pass", ""))
        if login:
            return login
        source = params.get("source", "")
        handler = getattr(self, f"_fn_{function}", None)
        if handler is None:
            return "ERROR: NO FUNCTION SPECIFIED\n"
        if len(source) < 2:
            return f"ERROR: Invalid Source - {source}\nERROR: Invalid Source: |{source}|\n"
        allowed = self.state.users[params["user"]].allowed_functions
        if f" {function} " not in allowed and "ALL_FUNCTIONS" not in allowed:
            return (
                "ERROR: auth USER DOES NOT HAVE PERMISSION TO USE THIS FUNCTION: "
                f"|{params['user']}|{function}|\n"
            )
        return handler(params)

    def _login(self, user: str, password: str) -> str:
        account = self.state.users.get(user)
        now = datetime.now()
        if account and account.locked_until and account.locked_until > now:
            return f"ERROR: Too many login attempts, try again in 15 minutes: |{user}|LOCK|\n"
        if account is None or account.password != password or account.level < 7:
            if account is not None:
                account.failed += 1
                if account.failed >= LOCK_AFTER:
                    account.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            return f"ERROR: Login incorrect, please try again: |{user}|{password}|BAD|\n"
        account.failed = 0
        return ""

    def _duplicate(self, params: dict, phone: str, list_id: int) -> str:
        check = params.get("duplicate_check", "")
        days = re.search(r"(\d+)DAY", check)
        since = datetime.now() - timedelta(days=int(days.group(1))) if days else None

        def found(where) -> dict | None:
            candidates = (self.state.leads[i] for i in self.state.by_phone.get(phone, []))
            hits = [
                lead
                for lead in candidates
                if where(lead) and (since is None or lead["entry_date"] >= since)
            ]
            return max(hits, key=lambda lead: lead["lead_id"]) if hits else None

        if "DUPLIST" in check and (hit := found(lambda lead: lead["list_id"] == list_id)):
            return (
                f"ERROR: add_lead DUPLICATE PHONE NUMBER IN LIST - "
                f"{phone}|{list_id}|{hit['lead_id']}\n"
            )
        campaign = self.state.lists.get(list_id)
        if "DUPCAMP" in check and campaign is not None:
            hit = found(lambda lead: self.state.lists.get(lead["list_id"]) == campaign)
            if hit:
                return (
                    f"ERROR: add_lead DUPLICATE PHONE NUMBER IN CAMPAIGN LISTS - "
                    f"{phone}|{list_id}|{hit['lead_id']}|{hit['list_id']}\n"
                )
        if "DUPSYS" in check and (hit := found(lambda lead: True)):
            return (
                f"ERROR: add_lead DUPLICATE PHONE NUMBER IN SYSTEM - "
                f"{phone}|{list_id}|{hit['lead_id']}|{hit['list_id']}\n"
            )
        return ""

    def _list_missing(self, params: dict, function: str, list_param: str) -> str:
        """``list_exists_check`` (matched like the real /Y/i): the list must be defined."""
        given = params.get(list_param, "")
        if "Y" not in params.get("list_exists_check", "").upper() or not given:
            return ""
        if int(given) in self.state.lists:
            return ""
        return (
            f"ERROR: {function} NOT A DEFINED LIST ID, LIST EXISTS CHECK ENABLED - "
            f"{params.get('phone_number', '')}|{given}\n"
        )

    def _fn_add_lead(self, params: dict) -> str:
        user = params["user"]
        phone = params.get("phone_number", "")
        if missing := self._list_missing(params, "add_lead", "list_id"):
            return missing
        list_id = int(params["list_id"]) if len(params.get("list_id", "")) >= 3 else 999
        if not 6 <= len(phone) <= 16:
            return f"ERROR: add_lead INVALID PHONE NUMBER LENGTH - {phone}|{user}\n"
        if dnc := self._in_dnc(params, phone):
            return dnc
        duplicate = self._duplicate(params, phone, list_id)
        if duplicate:
            return duplicate
        lead_id = self.state.next_id
        self.state.next_id += 1
        lead = {
            "lead_id": lead_id,
            "list_id": list_id,
            "phone_number": phone,
            "status": "NEW",
            "entry_date": datetime.now(),
            "user": user,
            "called_count": 0,
        }
        for name in LEAD_FIELDS:
            lead[name] = params.get(name, "")
        self.state.leads[lead_id] = lead
        self.state.by_phone.setdefault(phone, []).append(lead_id)
        lines = [
            f"SUCCESS: add_lead LEAD HAS BEEN ADDED - {phone}|{list_id}|{lead_id}|-5.00|{user}"
        ]
        if params.get("add_to_hopper") == "Y":
            lines.append(f"NOTICE: add_lead ADDED TO HOPPER - {phone}|{lead_id}|{lead_id}|{user}")
        return "\n".join(lines) + "\n"

    def _in_dnc(self, params: dict, phone: str) -> str:
        """add_lead's DNC checks, in the real order: system list, then the campaign's (or the
        one its ``use_other_campaign_dnc`` names); AREACODE also matches ``<areacode>XXXXXXX``."""
        user = params["user"]

        def listed(numbers: set[str], how: str) -> bool:
            return phone in numbers or (how == "AREACODE" and f"{phone[:3]}XXXXXXX" in numbers)

        system = params.get("dnc_check", "")
        if system in ("Y", "AREACODE") and listed(self.state.dnc, system):
            return f"ERROR: add_lead PHONE NUMBER IN DNC - {phone}|{user}\n"
        campaign_check = params.get("campaign_dnc_check", "")
        if campaign_check in ("Y", "AREACODE"):
            campaign = params.get("campaign_id", "")
            numbers = self.state.campaign_dnc.get(
                self.state.other_campaign_dnc.get(campaign) or campaign, set()
            )
            if listed(numbers, campaign_check):
                return f"ERROR: add_lead PHONE NUMBER IN CAMPAIGN DNC - {phone}|{campaign}|{user}\n"
        return ""

    def _fn_add_dnc_phone(self, params: dict) -> str:
        """non_agent_api.php add_dnc_phone: level 8+ and modify_lists; campaign_id
        SYSTEM_INTERNAL is the system list (vicidial_dnc)."""
        user = params["user"]
        account = self.state.users[user]
        if account.level < 8 or not account.modify_lists:
            return (
                "ERROR: add_dnc_phone USER DOES NOT HAVE PERMISSION TO ADD DNC NUMBERS: "
                f"|{user}|0\n"
            )
        phone, campaign = params.get("phone_number", ""), params.get("campaign_id", "")
        if len(phone) < 6 or len(campaign) < 1:
            return (
                "ERROR: add_dnc_phone YOU MUST USE ALL REQUIRED FIELDS: "
                f"|{user}|{phone}|{campaign}\n"
            )
        numbers = (
            self.state.dnc
            if campaign == "SYSTEM_INTERNAL"
            else self.state.campaign_dnc.setdefault(campaign, set())
        )
        if phone in numbers:
            return f"ERROR: add_dnc_phone DNC NUMBER ALREADY EXISTS: |{user}|{phone}|{campaign}\n"
        numbers.add(phone)
        return f"SUCCESS: add_dnc_phone DNC NUMBER HAS BEEN ADDED - {user}|{phone}|{campaign}\n"

    def _find(self, params: dict) -> list[dict]:
        method = params.get("search_method", "") or "LEAD_ID"
        leads = list(self.state.leads.values())
        if "LEAD_ID" in method and params.get("lead_id"):
            hits = [lead for lead in leads if str(lead["lead_id"]) == params["lead_id"]]
            if hits:
                return hits
        if "VENDOR_LEAD_CODE" in method and params.get("vendor_lead_code"):
            hits = [
                lead for lead in leads if lead["vendor_lead_code"] == params["vendor_lead_code"]
            ]
            if hits:
                return sorted(hits, key=lambda lead: lead["entry_date"], reverse=True)
        if "PHONE_NUMBER" in method and params.get("phone_number"):
            return [lead for lead in leads if lead["phone_number"] == params["phone_number"]]
        return []

    def _fn_update_lead(self, params: dict) -> str:
        user = params["user"]
        if params.get("list_id_field") and (
            missing := self._list_missing(params, "update_lead", "list_id_field")
        ):
            return missing
        hits = self._find(params)[: int(params.get("records") or 1)]
        if not hits:
            return (
                f"ERROR: update_lead NO MATCHES FOUND IN THE SYSTEM: |{user}|"
                f"{params.get('lead_id', '')}|{params.get('vendor_lead_code', '')}|"
                f"{params.get('phone_number', '')}\n"
            )
        updates = {name: params[name] for name in (*LEAD_FIELDS, "status") if params.get(name)}
        if params.get("list_id_field"):
            updates["list_id"] = int(params["list_id_field"])
        if params.get("update_phone_number") == "Y" and params.get("phone_number"):
            updates["phone_number"] = params["phone_number"]
        if not updates:
            return ""
        lines = []
        for lead in hits:
            changed = sum(1 for k, v in updates.items() if lead.get(k) != v)
            lead.update(updates)
            lines.append(
                f"SUCCESS: update_lead LEAD HAS BEEN UPDATED - "
                f"{user}|{lead['lead_id']}|{1 if changed else 0}|||"
            )
        return "\n".join(lines) + "\n"

    def _fn_batch_update_lead(self, params: dict) -> str:
        user = params["user"]
        ids = [int(i) for i in params.get("lead_ids", "").split(",") if i]
        if not ids:
            return f"ERROR: batch_update_lead NO LEADS DEFINED - {user}|\n"
        found = [self.state.leads[i] for i in ids if i in self.state.leads]
        if not found:
            return (
                f"ERROR: batch_update_lead NO MATCHES FOUND IN THE SYSTEM: |{user}|"
                f"{params['lead_ids']}\n"
            )
        updates = {name: params[name] for name in (*LEAD_FIELDS, "status") if params.get(name)}
        if params.get("list_id_field"):
            updates["list_id"] = int(params["list_id_field"])
        if params.get("update_phone_number") == "Y" and params.get("phone_number"):
            updates["phone_number"] = params["phone_number"]
        if not updates:
            return ""
        for lead in found:
            lead.update(updates)
        found_ids = ",".join(str(lead["lead_id"]) for lead in found)
        return (
            f"SUCCESS: batch_update_lead LEADS HAVE BEEN UPDATED - {user}|{len(found)}|"
            f"{len(found)}|{found_ids}\n"
        )

    def _fn_lead_search(self, params: dict) -> str:
        user = params["user"]
        lines = []
        for phone in [p for p in params.get("phone_number", "").split(",") if p]:
            hits = sorted(self.state.by_phone.get(phone, []), reverse=True)
            lines.append(f"{phone}|{len(hits)}|{'-'.join(map(str, hits))}")
        if not any(line.split("|")[1] != "0" for line in lines):
            return (
                f"ERROR: lead_search NO MATCHES FOUND IN THE SYSTEM: |{user}|||"
                f"{params.get('phone_number', '')}\n"
            )
        return "\n".join(lines) + "\n"

    def _fn_list_info(self, params: dict) -> str:
        user = params["user"]
        list_id = int(params.get("list_id") or 0)
        if list_id not in self.state.lists:
            return f"ERROR: list_info LIST DOES NOT EXIST: |{user}|{list_id}\n"
        campaign = self.state.lists[list_id]
        return f"{list_id}|List {list_id}|{campaign}|Y|||2099-12-31|0|\n"

    def _fn_phone_number_log(self, params: dict) -> str:
        user = params["user"]
        phones = [p for p in params.get("phone_number", "").split(",") if p]
        if not phones:
            return f"ERROR: phone_number_log NO VALID PHONE NUMBERS DEFINED: {user}||\n"
        lines = []
        for phone in phones:
            rows = [c for c in self.state.calls if c["phone_number"] == phone]
            if not rows:
                lines.append(
                    f"NOTICE: phone_number_log NO RECORDS FOUND FOR THIS PHONE NUMBER - "
                    f"{user}|{phone}||"
                )
            for c in sorted(rows, key=lambda c: c["call_date"], reverse=True):
                lines.append(
                    "|".join(
                        str(c[k])
                        for k in (
                            "phone_number",
                            "call_date",
                            "list_id",
                            "length_in_sec",
                            "lead_status",
                            "term_reason",
                            "status",
                            "source_id",
                            "user",
                        )
                    )
                )
        return "\n".join(lines) + "\n"

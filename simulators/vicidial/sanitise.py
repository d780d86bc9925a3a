"""The Non-Agent API's input sanitising (VICIDIAL.md 1.4, default ``use_non_latin=0``):
characters outside each field's set are removed, then ``+`` becomes a space for some."""

import re


def _keep(value: str, pattern: str) -> str:
    return re.sub(pattern, "", value)


SANITISE = {
    "phone_number": lambda v: _keep(v, r"[^0-9,]"),
    "phone_code": lambda v: _keep(v, r"[^0-9]"),
    "list_id": lambda v: _keep(v, r"[^0-9]"),
    "list_id_field": lambda v: _keep(v, r"[^0-9]"),
    "lead_id": lambda v: _keep(v, r"[^0-9]"),
    "status": lambda v: _keep(v, r"[^-_0-9a-zA-Z]"),
    "campaign_id": lambda v: _keep(v, r"[^-_0-9a-zA-Z]"),
    "vendor_lead_code": lambda v: _keep(v, r'[;#"]').replace("+", " "),
    "source_id": lambda v: _keep(v, r'[;#"]').replace("+", " "),
    "comments": lambda v: _keep(v, r'[;#"]').replace("+", " "),
    "first_name": lambda v: _keep(v, r"[^- '+_.0-9a-zA-Z]").replace("+", " "),
    "last_name": lambda v: _keep(v, r"[^- '+_.0-9a-zA-Z]").replace("+", " "),
    "address1": lambda v: _keep(v, r"[^- '+.:/@_0-9a-zA-Z]").replace("+", " "),
    "city": lambda v: _keep(v, r"[^- '+.:/@_0-9a-zA-Z]").replace("+", " "),
    "email": lambda v: _keep(v, r"[^- '+.:/@%_0-9a-zA-Z]").replace("+", " "),
    "state": lambda v: _keep(v, r"[^- 0-9a-zA-Z]"),
    "postal_code": lambda v: _keep(v, r"[^- '+0-9a-zA-Z]").replace("+", " "),
    "user": lambda v: _keep(v, r"[^-_0-9a-zA-Z]"),
    "pass": lambda v: _keep(v, r"[^-_0-9a-zA-Z]"),
    "function": lambda v: _keep(v, r"[^-_0-9a-zA-Z]"),
    "source": lambda v: _keep(v, r"[^0-9a-zA-Z]"),
    "duplicate_check": lambda v: _keep(v, r"[^0-9A-Z]"),
    "search_method": lambda v: _keep(v, r"[^_A-Z]"),
    "add_to_hopper": lambda v: _keep(v, r"[^A-Z]"),
    "hopper_priority": lambda v: _keep(v, r"[^-0-9]"),
    "lead_ids": lambda v: _keep(v, r"[^0-9,]"),
    "list_exists_check": lambda v: _keep(v, r"[^0-9a-zA-Z]"),
    "dnc_check": lambda v: _keep(v, r"[^A-Z]"),
    "campaign_dnc_check": lambda v: _keep(v, r"[^A-Z]"),
}
# vicidial_list columns the double keeps from add_lead / update_lead.
LEAD_FIELDS = tuple(
    "vendor_lead_code source_id first_name last_name address1 city state postal_code email "
    "comments phone_code".split()
)

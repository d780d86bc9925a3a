"""The lead's field names, written once. Every other list of them is derived from these.

Intake, PATCH, routing conditions, message placeholders, the serializers, the admin form,
the CSV export and the VICIdial mirror all take their field names from here.
"""

PERSON = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "company",
    "industry",
    "state",
    "postal_code",
    "timezone",
)
ORIGIN = ("source", "external_id")
# What a partner sends and an agent may edit, besides ``custom`` and the consent.
PROFILE = PERSON + ORIGIN
# Free text with a maximum length (phone and email have their own normalization).
TEXT = tuple(name for name in PROFILE if name not in ("phone", "email"))
CONSENT = ("consent_at", "consent_text", "consent_url", "consent_ip")
EDITABLE = (*PROFILE, "custom")
# What ``lead_update`` (API PATCH, desk, admin) may change.
UPDATABLE = (*EDITABLE, *CONSENT)
# What routing conditions may test (``custom.<key>`` besides).
MATCHABLE = (*PROFILE, "status", "created_at")
# What a message template may use as ``{placeholder}`` (``full_name`` is computed).
PLACEHOLDERS = (*(name for name in PROFILE if name != "timezone"), "full_name")
# The columns of the CSV export, in order.
EXPORT = ("id", "workspace_id", "created_at", "status", *PROFILE)

"""The error codes the leads app answers with: the shared ones from ``core.errors``, then
its own."""

from core.errors import BUSY, INVALID

ARCHIVED = "archived"  # an archived lead cannot be changed
CLOSED = "closed"  # the lead's status forbids it (do not contact, sold...)
COLD_STORAGE = "cold_storage"  # the lead is in cold storage (410)
IDEMPOTENCY_CONFLICT = "idempotency_conflict"  # a key reused with another request
INVALID_SETTING = "invalid_setting"  # a cold-storage setting refused
NOT_REROUTABLE = "not_reroutable"
ROLES_MISSING = "roles_missing"  # setup_roles has not run

__all__ = [
    "ARCHIVED",
    "BUSY",
    "CLOSED",
    "COLD_STORAGE",
    "IDEMPOTENCY_CONFLICT",
    "INVALID",
    "INVALID_SETTING",
    "NOT_REROUTABLE",
    "ROLES_MISSING",
]

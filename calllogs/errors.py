"""The error codes the calllogs app answers with: the shared ones from ``core.errors``,
then its own."""

from core.errors import FORBIDDEN, INVALID

INTERNAL = "error"  # the call URL fast path's 500
NOT_RECONCILABLE = "not_reconcilable"  # the server gives no call records to compare
UNAVAILABLE = "unavailable"  # the call URL fast path cannot store the call now (503)

__all__ = ["FORBIDDEN", "INTERNAL", "INVALID", "NOT_RECONCILABLE", "UNAVAILABLE"]

"""The error codes the broadcast app answers with: the shared ones from ``core.errors``,
then its own."""

from core.errors import FORBIDDEN, INVALID, NOT_FOUND

INACTIVE = "inactive"  # the sequence is not active
NO_DEVICE = "no_device"  # no active device to send from
NO_STEPS = "no_steps"  # the sequence has no steps

__all__ = ["FORBIDDEN", "INACTIVE", "INVALID", "NO_DEVICE", "NO_STEPS", "NOT_FOUND"]

"""The error codes the routing app answers with (all shared, from ``core.errors``)."""

from core.errors import INVALID

__all__ = ["INVALID"]

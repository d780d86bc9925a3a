"""A WAHA-style WhatsApp gateway (``server``) and what its phones do after a send: delivery
receipts and replies to the session's webhook (``events``)."""

from simulators.gateway.server import GatewaySimulator, Received, Sent

__all__ = ["GatewaySimulator", "Received", "Sent"]

"""VICIdial: the Non-Agent API (``api``), served over HTTP (``server``), the dialer that
calls the leads added to it (``dialer``) and the call URLs it sends (``callurl``)."""

from simulators.vicidial.api import ApiUser, Campaign, ViciApi, ViciState
from simulators.vicidial.server import ViciSimulator

__all__ = ["ApiUser", "Campaign", "ViciApi", "ViciSimulator", "ViciState"]

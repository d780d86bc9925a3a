"""What each role may do with call logs (``core.roles``). Hooks and dispositions stay with
admins (they hold a server's secret and change what every workspace's calls mean)."""

from core.roles import MANAGER

ROLE_PERMISSIONS = {MANAGER: ["calllogs.view_calllog"]}

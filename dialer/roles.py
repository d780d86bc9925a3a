"""What each role may do with the dialer's models (``core.roles``). Servers stay with admins."""

from core.roles import MANAGER

ROLE_PERMISSIONS = {
    MANAGER: [
        "dialer.view_vicilist",
        "dialer.add_vicilist",
        "dialer.change_vicilist",
        "dialer.view_outboxitem",
        "dialer.change_outboxitem",
    ],
}

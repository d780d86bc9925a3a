"""What each role may do with broadcast's models (``core.roles``)."""

from core.roles import MANAGER

ROLE_PERMISSIONS = {
    MANAGER: [
        "broadcast.view_device",
        "broadcast.add_device",
        "broadcast.change_device",
        "broadcast.view_sequence",
        "broadcast.add_sequence",
        "broadcast.change_sequence",
        "broadcast.view_step",
        "broadcast.add_step",
        "broadcast.change_step",
        "broadcast.delete_step",
        "broadcast.view_enrollment",
        "broadcast.add_enrollment",
        "broadcast.change_enrollment",
        "broadcast.view_message",
    ],
}

"""What each role may do with routing's models (``core.roles``)."""

from core.roles import MANAGER

ROLE_PERMISSIONS = {
    MANAGER: [
        "routing.view_routingrule",
        "routing.add_routingrule",
        "routing.change_routingrule",
        "routing.delete_routingrule",
        "routing.view_rulecondition",
        "routing.add_rulecondition",
        "routing.change_rulecondition",
        "routing.delete_rulecondition",
        "routing.view_ruledestination",
        "routing.add_ruledestination",
        "routing.change_ruledestination",
        "routing.delete_ruledestination",
        "routing.view_routinglog",
        "routing.view_retryitem",
        "routing.change_retryitem",
    ],
}

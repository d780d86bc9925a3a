"""What each role may do with the leads app's models (``core.roles``; the admin role has
every permission). Scope (which workspaces) comes from memberships, not from here."""

from core.roles import AGENT, INTEGRATOR, MANAGER

ROLE_PERMISSIONS = {
    MANAGER: [
        "leads.view_workspace",
        "leads.view_lead",
        "leads.add_lead",  # the CSV import and posting leads through the session API
        "leads.change_lead",
        "leads.work_lead",
        "leads.export_lead",
        "leads.view_leadevent",
        "leads.view_suppression",
        "leads.add_suppression",
        "leads.change_suppression",
    ],
    AGENT: ["leads.view_lead", "leads.work_lead", "leads.view_leadevent"],
    INTEGRATOR: [
        "leads.view_workspace",
        "leads.view_apikey",
        "leads.add_apikey",
        "leads.change_apikey",
    ],
}

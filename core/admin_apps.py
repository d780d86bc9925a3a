from django.contrib.admin.apps import AdminConfig


class LeadbrainAdminConfig(AdminConfig):
    """Django's admin with the manager dashboard as its first page (``core.admin_site``)."""

    default_site = "core.admin_site.LeadbrainAdminSite"

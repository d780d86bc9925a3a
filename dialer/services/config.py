"""Setting up VICIdial servers and lists (the admin forms and the configuration API).

A new server is announced by ``dialer.signals.vici_server_added`` on commit, so the calllogs
app creates its call-URL hook at once (its hourly sync creates any that are missing).
"""

from django.db import transaction

from core import crypto
from core.db import delete_unless_used
from dialer.models import ViciList, ViciServer
from dialer.signals import vici_server_added
from leads.signals import send_on_commit


def server_save(*, server: ViciServer, password: str = "") -> ViciServer:
    """Create or change ``server`` (validated by ``dialer.admin.ViciServerForm``); a
    ``password`` given replaces the stored one (encrypted; empty keeps it)."""
    created = server.pk is None
    with transaction.atomic():
        if password:
            server.api_password_encrypted = crypto.encrypt(password)
        server.save()
        if created:
            send_on_commit(vici_server_added, server_id=server.pk)
    return server


def server_delete(*, server: ViciServer) -> None:
    """Delete a server no list or outbox item uses (else ``ConflictError``, 409)."""
    delete_unless_used(server, what="VICIdial server")


def vici_list_save(*, vici_list: ViciList) -> ViciList:
    vici_list.save()
    return vici_list


def vici_list_delete(*, vici_list: ViciList) -> None:
    """Delete a list no routing destination or outbox item uses (else 409)."""
    delete_unless_used(vici_list, what="VICIdial list")

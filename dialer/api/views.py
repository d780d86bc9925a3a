"""The dialer's configuration API: VICIdial servers and lists (``leads.api.config``)."""

from dialer.api.serializers import ViciListSerializer, ViciServerSerializer
from leads.api.config import ConfigDetailView, ConfigListView


class ServerListView(ConfigListView):
    """GET: the VICIdial servers the key's workspace set up. POST: add one (its call-URL
    hook follows at once). ``password`` and ``db_url`` are write-only."""

    permission_model = "dialer.viciserver"
    serializer_class = ViciServerSerializer


class ServerDetailView(ConfigDetailView):
    """A server of the key's workspace. DELETE: 409 while lists or outbox items use it."""

    permission_model = "dialer.viciserver"
    serializer_class = ViciServerSerializer
    not_found = "No such VICIdial server."


class ListListView(ConfigListView):
    """GET: the VICIdial lists of the key's workspace. POST: add one (on a server of the
    workspace, or a shared one)."""

    permission_model = "dialer.vicilist"
    serializer_class = ViciListSerializer


class ListDetailView(ConfigDetailView):
    """A list of the key's workspace. DELETE: 409 while a routing destination or an outbox
    item uses it."""

    permission_model = "dialer.vicilist"
    serializer_class = ViciListSerializer
    not_found = "No such VICIdial list."

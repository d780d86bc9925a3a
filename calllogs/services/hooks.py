"""Every VICIdial server has its call-URL hook (the token of its call URLs, the sync
watermark): created when the server is added (the ``dialer.signals.vici_server_added``
receiver), and by the hourly sync for any server a missed signal left without one."""

from calllogs.models import ServerHook
from dialer.models import ViciServer


def server_hook_ensure(*, server_id: int) -> ServerHook | None:
    """The server's hook, created (with a new token) when it has none; None when the server
    is gone meanwhile. Idempotent."""
    if not ViciServer.objects.filter(pk=server_id).exists():
        return None
    hook, _ = ServerHook.objects.get_or_create(server_id=server_id)
    return hook


def server_hooks_ensure() -> int:
    """A hook for every server that has none (servers are few). Returns how many were made."""
    missing = ViciServer.objects.filter(hook__isnull=True).values_list("pk", flat=True)
    created = 0
    for server_id in list(missing):
        _, made = ServerHook.objects.get_or_create(server_id=server_id)
        created += made
    return created

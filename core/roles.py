"""The roles people have (Django groups of the same names) and the command that keeps each
group's permissions in step with what the apps declare.

Each app may have a ``roles.py`` with ``ROLE_PERMISSIONS = {role: ["app_label.codename", ...]}``
naming what each role may do with that app's models; ``setup_roles`` (run by ``make run``)
upserts one group per role with exactly the union of those permissions. The admin role gets
every permission. Which workspaces a person sees is not a permission: it is their memberships
(``leads.Membership``), read through ``core.scope``.
"""

import importlib

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db import transaction

ADMIN = "admin"
MANAGER = "manager"
AGENT = "agent"
INTEGRATOR = "integrator"
ROLES = (ADMIN, MANAGER, AGENT, INTEGRATOR)
# Roles that use the admin site (``is_staff``); agents use the desk only.
STAFF_ROLES = (ADMIN, MANAGER, INTEGRATOR)


def declared_permissions() -> dict[str, set[str]]:
    """role -> {"app_label.codename"} from every installed app's ``roles.py``."""
    declared: dict[str, set[str]] = {role: set() for role in ROLES}
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.roles")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.roles":
                raise
            continue
        for role, perms in getattr(module, "ROLE_PERMISSIONS", {}).items():
            if role not in declared:
                raise ValueError(f"{config.name}.roles names an unknown role {role!r}")
            declared[role].update(perms)
    return declared


def _permissions(names: set[str]) -> list[Permission]:
    wanted: set[tuple[str, str]] = set()
    for name in names:
        app_label, codename = name.split(".", 1)
        wanted.add((app_label, codename))
    found = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.select_related("content_type").filter(
            codename__in=[codename for _, codename in wanted]
        )
    }
    missing = sorted(f"{a}.{c}" for a, c in wanted if (a, c) not in found)
    if missing:
        raise ValueError(f"Unknown permissions (migrate first?): {', '.join(missing)}")
    return [found[key] for key in wanted]


@transaction.atomic
def roles_upsert() -> dict[str, int]:
    """One group per role with exactly its declared permissions. Idempotent."""
    declared = declared_permissions()
    result = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        if role == ADMIN:
            permissions = list(Permission.objects.all())
        else:
            permissions = _permissions(declared[role])
        group.permissions.set(permissions)
        result[role] = len(permissions)
    return result

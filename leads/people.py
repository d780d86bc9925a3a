"""Who works where: memberships of people in workspaces, with a role.

A person's Django groups are the roles of their memberships, and ``is_staff`` (the admin
site) is on for every role but agent; agents use the desk at ``/login/`` and ``/leads/``.
Re-exported by ``leads.services``.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from core import roles
from core.errors import ApplicationError
from core.scope import forget_workspace_ids
from leads.errors import INVALID, ROLES_MISSING
from leads.models import Membership, Workspace


def membership_set(*, user: Any, workspace: Workspace, role: str) -> Membership:
    """Give ``user`` ``role`` in ``workspace`` (or change it). Idempotent."""
    if role not in Membership.Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", code=INVALID)
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(
            user=user, workspace=workspace, defaults={"role": role}
        )
        user_roles_sync(user=user)
    return membership


def membership_remove(*, user: Any, workspace: Workspace) -> int:
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(user=user, workspace=workspace).delete()
        user_roles_sync(user=user)
    return deleted


def user_roles_sync(*, user: Any) -> None:
    """The person's role groups and ``is_staff`` follow their memberships (other groups an
    admin gave by hand are kept)."""
    held = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    role_groups = {g.name: g for g in Group.objects.filter(name__in=roles.ROLES)}
    missing = held - set(role_groups)
    if missing:
        raise ApplicationError(
            f"The role groups {sorted(missing)} do not exist yet: run manage.py setup_roles.",
            code=ROLES_MISSING,
        )
    user.groups.remove(*[g for name, g in role_groups.items() if name not in held])
    user.groups.add(*[role_groups[name] for name in held])
    is_staff = user.is_superuser or bool(held & set(roles.STAFF_ROLES))
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    forget_workspace_ids(user)


def member_create(
    *, username: str, workspace: Workspace, role: str, password: str | None = None, email: str = ""
) -> Any:
    """A new person (or an existing one by username) with ``role`` in ``workspace``."""
    users = get_user_model()
    with transaction.atomic():
        user, created = users.objects.get_or_create(
            username=username, defaults={"email": email, "is_active": True}
        )
        if created:
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
        membership_set(user=user, workspace=workspace, role=role)
    return user

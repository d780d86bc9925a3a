"""DRF plumbing shared by every app: one error shape, cursor pagination, the list of a
lead's sub-records, and who may call a view (an API key, or a person with the model
permission of the method)."""

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from rest_framework import exceptions, pagination, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from core.db_router import use_replica
from core.errors import INVALID, UPSTREAM_ERROR, ApplicationError, ClientError, error_body

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error is ``{"code", "message", "errors"}``."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.errors), status=exc.status_code)
    if isinstance(exc, ClientError):
        logger.warning("external system error: %s", exc.message)
        return Response(error_body(UPSTREAM_ERROR, exc.message), status=502)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data
        message = "Invalid input."
        if isinstance(errors, dict) and list(errors) == ["non_field_errors"]:
            message = str(errors["non_field_errors"][0])
        response.data = error_body(INVALID, message, errors)
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(str(code), str(detail))
    if isinstance(exc, exceptions.Throttled):
        # No "Too Many Requests" warning per refused request: a flooding client would
        # flood the log too (and spend the CPU its limit is there to protect).
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


METHOD_ACTIONS = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


def required_permissions(view: Any, method: str) -> list[str]:
    """The model permissions a person needs for ``method`` on ``view``: the view's
    ``method_permissions[method]`` when given, else ``<app>.<action>_<model>`` of its
    ``permission_model`` (``"leads.lead"``) and the method's action (GET: view, POST: add,
    PATCH: change...). A view that names neither lets no person in."""
    explicit = getattr(view, "method_permissions", {}).get(method)
    if explicit is not None:
        return list(explicit)
    model = getattr(view, "permission_model", None)
    action = METHOD_ACTIONS.get(method)
    if model is None or action is None:
        return ["!no-permission-declared"]
    app_label, model_name = model.split(".", 1)
    return [f"{app_label}.{action}_{model_name}"]


class KeyOrModelPermission(permissions.BasePermission):
    """An API key (the view scopes it to its workspace), or a signed-in person with the model
    permissions the method needs (``required_permissions``; the view scopes them to their
    workspaces). ``is_staff`` means nothing here: a role's permissions do."""

    staff_key_only = False

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if getattr(user, "is_api_key", False):
            return bool(user.is_staff) if self.staff_key_only else True
        if not (user and user.is_authenticated):
            return False
        return bool(user.has_perms(required_permissions(view, request.method)))


class StaffKeyOrModelPermission(KeyOrModelPermission):
    """Like ``KeyOrModelPermission``, but an API key must be a staff key."""

    message = "Only staff API keys, or people with the permission, may do this."
    staff_key_only = True


class ConfigPermission(KeyOrModelPermission):
    """The configuration API (servers, lists, devices, sequences, suppressions, routing
    destinations): a manager key (``is_manager``) or a staff key, each limited by the view
    to its own workspace; or a person with the model permissions of the method."""

    message = "Only manager API keys, or people with the permission, may configure."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if getattr(user, "is_api_key", False):
            return bool(user.is_manager or user.is_staff)
        return super().has_permission(request, view)


class CursorPagination(pagination.CursorPagination):
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    ordering = "-id"


# GET one lead's sub-records (its calls, its messages) at ``.../<lead_id>/...``: a plain JSON
# list of the first ``max_rows`` rows of ``get_subrecords(lead)`` (ordered, newest first),
# serialized by ``serializer_class``. ``lead_lookup(request, lead_id)`` returns the lead only
# when the request may see it (the key's workspace; a staff user's ``?workspace=``), else
# None, answered with a 404. core imports no app, so a subclass sets ``lead_lookup`` and
# ``permission_classes`` (from leads), ``serializer_class`` and ``get_subrecords``.
# Comments, not a docstring: drf-spectacular would show it as every subclass's description.
# Not a ``generics`` view: DRF's settings import this module for the default pagination.
class LeadSubrecordListView(APIView):
    lead_lookup: ClassVar[Callable[[Request, int], Any]]
    serializer_class: ClassVar[type[serializers.BaseSerializer[Any]]]
    max_rows = 1000

    def get_subrecords(self, lead: Any) -> QuerySet[Any]:
        raise NotImplementedError

    def get_serializer(self, *args: Any, **kwargs: Any) -> serializers.BaseSerializer[Any]:
        """A list serializer of sub-records (the OpenAPI schema reads it too)."""
        return self.serializer_class(*args, many=True, **kwargs)

    @use_replica
    def get(self, request: Request, lead_id: int) -> Response:
        lead = type(self).lead_lookup(request, lead_id)
        if lead is None:
            raise exceptions.NotFound("No such lead.")
        rows = self.get_subrecords(lead)[: self.max_rows]
        return Response(self.get_serializer(rows).data)

"""DRF plumbing shared by every app: one error shape, cursor pagination, the list of a
lead's sub-records."""

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from rest_framework import exceptions, pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from core.db_router import use_replica
from core.errors import ApplicationError, ClientError, error_body

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
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
        return Response(error_body("upstream_error", exc.message), status=502)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data
        message = "Invalid input."
        if isinstance(errors, dict) and list(errors) == ["non_field_errors"]:
            message = str(errors["non_field_errors"][0])
        response.data = error_body("invalid", message, errors)
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(code, str(detail))
    if isinstance(exc, exceptions.Throttled):
        # No "Too Many Requests" warning per refused request: a flooding client would
        # flood the log too (and spend the CPU its limit is there to protect).
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


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
    serializer_class: ClassVar[type[serializers.BaseSerializer]]
    max_rows = 1000

    def get_subrecords(self, lead: Any) -> QuerySet:
        raise NotImplementedError

    def get_serializer(self, *args: Any, **kwargs: Any) -> serializers.BaseSerializer:
        """A list serializer of sub-records (the OpenAPI schema reads it too)."""
        return self.serializer_class(*args, many=True, **kwargs)

    @use_replica
    def get(self, request: Request, lead_id: int) -> Response:
        lead = type(self).lead_lookup(request, lead_id)
        if lead is None:
            raise exceptions.NotFound("No such lead.")
        rows = self.get_subrecords(lead)[: self.max_rows]
        return Response(self.get_serializer(rows).data)

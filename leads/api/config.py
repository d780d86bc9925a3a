"""The configuration API's plumbing: what a manager sets up in the admin, set up with a
manager key (``ApiKey.is_manager``) or by a person with the model permissions.

Scope: a key configures its own workspace only (a staff key too), a person their
workspaces; another workspace's object answers 404, as one that does not exist, and a
choice of another workspace's row (a server, a device...) is an unknown choice (400).
Validation is the admin form's (``core.api_forms``): the serializer checks the JSON types,
the form decides. Secrets are write-only fields of the serializer: never in an answer.

A resource is two views: ``ConfigListView`` (GET a cursor page, POST) and
``ConfigDetailView`` (GET, PATCH, DELETE), over a ``ConfigSerializer`` subclass that names
its ``form_class`` and knows its scoped queryset and its save and delete services.
"""

from typing import Any, ClassVar

from django import forms
from django.db import models
from django.db.models import QuerySet
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import ConfigPermission
from core.api_forms import form_input, form_validate
from core.scope import workspace_ids_for
from leads.authentication import WorkspacePrincipal
from leads.models import Workspace
from leads.selectors import workspaces_visible

Scope = frozenset[int] | None
NAME_YOUR_WORKSPACE = "Name one of your workspaces (its slug)."


def config_scope(request: Request) -> Scope:
    """The workspaces this request configures: a key's own (staff keys too); a person's
    (None: every workspace, for the admin role)."""
    user = request.user
    if isinstance(user, WorkspacePrincipal):
        return frozenset([user.workspace.pk])
    return workspace_ids_for(user)


class ScopedWorkspaceField(serializers.SlugRelatedField):
    """A workspace by slug, among those of the request's scope (another is unknown)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Workspace slug; a key's own workspace when left out.")
        super().__init__(slug_field="slug", queryset=Workspace.objects.all(), **kwargs)

    def get_queryset(self) -> QuerySet[Workspace]:
        return workspaces_visible(workspace_ids=self.context.get("scope"))


class ConfigSerializer(serializers.ModelSerializer):
    """A configurable model: its fields (secrets ``write_only``), the admin form that
    validates a write (``form_class``), and its scoped rows and services.

    ``context["scope"]`` is the request's scope, ``context["request"]`` the request."""

    form_class: ClassVar[type[forms.ModelForm]]
    workspace_nullable: ClassVar[bool] = False  # admins may keep a row of no workspace

    workspace = ScopedWorkspaceField(required=False)

    @classmethod
    def scoped(cls, scope: Scope) -> QuerySet:
        """The rows ``scope`` may see and change (a selector), ready for the list."""
        raise NotImplementedError

    def save_form(self, form: Any) -> Any:
        """Write the validated form through the app's service; the saved object."""
        raise NotImplementedError

    @classmethod
    def delete(cls, obj: Any) -> None:
        raise NotImplementedError

    def form_data(self, data: dict[str, Any]) -> dict[str, Any]:
        """The validated JSON as the form's input (objects as their ids)."""
        return {
            name: (value.pk if isinstance(value, models.Model) else value)
            for name, value in data.items()
        }

    def new_instance(self) -> models.Model:
        model: type[models.Model] = self.Meta.model
        return model()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["workspace"].allow_null = self.workspace_nullable
        return fields

    def get_validators(self) -> list:
        return []  # the model's constraints are the form's to check (one message each)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        scope = self.context.get("scope")
        if "workspace" in attrs and attrs["workspace"] is None:
            if scope is not None or not self.workspace_nullable:
                raise serializers.ValidationError({"workspace": [NAME_YOUR_WORKSPACE]})
        elif self.instance is None and "workspace" not in attrs:
            workspace = self._default_workspace()
            if workspace is None and not (scope is None and self.workspace_nullable):
                raise serializers.ValidationError({"workspace": [NAME_YOUR_WORKSPACE]})
            attrs["workspace"] = workspace
        return attrs

    def _default_workspace(self) -> Workspace | None:
        user = self.context["request"].user
        if isinstance(user, WorkspacePrincipal):
            return user.workspace
        scope = self.context.get("scope")
        if scope is not None and len(scope) == 1:
            return Workspace.objects.filter(pk__in=scope).first()
        return None

    def build_form(self) -> "forms.ModelForm[Any]":
        """The admin's form, bound with the object's values under the validated input."""
        target = self.instance if self.instance is not None else self.new_instance()
        data = self.form_data(dict(self.validated_data))
        return self.form_class(data=form_input(self.form_class, target, data), instance=target)

    def write(self) -> Any:
        """Validate the input with the admin's form and save it through the service."""
        return self.save_form(form_validate(self.build_form()))


class _ConfigView(generics.GenericAPIView):
    permission_classes = [ConfigPermission]
    serializer_class: type[ConfigSerializer]
    filter_backends: list = []

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "scope": config_scope(self.request)}

    def get_queryset(self) -> QuerySet:
        return self.serializer_class.scoped(config_scope(self.request))

    def config_serializer(self, *args: Any, **kwargs: Any) -> ConfigSerializer:
        serializer = self.get_serializer(*args, **kwargs)
        assert isinstance(serializer, ConfigSerializer)
        return serializer

    def _answer(self, obj: models.Model, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=obj.pk)  # as a GET shows it (annotations)
        return Response(self.get_serializer(fresh).data, status=code)


class ConfigListView(_ConfigView, generics.ListCreateAPIView):
    """GET: a cursor page (``next``, ``previous``, ``results``), newest first. POST: create
    (201; a ``ListCreateAPIView`` so the schema documents it so)."""

    def get(self, request: Request) -> Response:
        return self.list(request)

    def post(self, request: Request) -> Response:
        serializer = self.config_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._answer(serializer.write(), status.HTTP_201_CREATED)


class ConfigDetailView(_ConfigView):
    lookup_url_kwarg = "pk"
    not_found = "No such object."

    def get_object(self) -> models.Model:
        obj = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if obj is None:
            raise NotFound(self.not_found)
        return obj

    def get(self, request: Request, pk: int) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def patch(self, request: Request, pk: int) -> Response:
        serializer = self.config_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return self._answer(serializer.write())

    def delete(self, request: Request, pk: int) -> Response:
        self.serializer_class.delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

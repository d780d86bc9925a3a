import factory
from django.utils import timezone

from leads.models import Lead, Workspace
from leads.normalize import dedupe_hash


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"ws-{n}")


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    workspace = factory.SubFactory(WorkspaceFactory)
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyAttribute(lambda o: o.created_at)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    phone = factory.Sequence(lambda n: f"+1213{2000000 + n:07d}")
    email = factory.LazyAttribute(lambda o: f"{o.first_name.lower()}.{o.phone[-7:]}@example.com")
    dedupe_hash = factory.LazyAttribute(lambda o: dedupe_hash(o.phone, o.email))
    status = Lead.Status.PENDING

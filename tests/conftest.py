import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from leads.models import ApiKey, Workspace

# Shared fixtures of external-system doubles (usable from any test folder).
pytest_plugins = ["tests.dialer.fixtures", "tests.calllogs.fixtures", "tests.broadcast.fixtures"]


@pytest.fixture(autouse=True)
def _clean_cache():
    # Only our own keys (KEY_PREFIX), so a Celery broker on the same Redis is untouched.
    cache.delete_pattern("*")
    yield


METRICS_TOKEN = "test-metrics-token"


@pytest.fixture
def metrics_client(client, settings):
    """A Django test client holding the metrics token (the full /health and /metrics)."""
    settings.METRICS_TOKEN = METRICS_TOKEN
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {METRICS_TOKEN}"
    return client


@pytest.fixture
def workspace(db) -> Workspace:
    return Workspace.objects.create(name="Acme Internal", slug="acme")


@pytest.fixture
def partner_workspace(db) -> Workspace:
    return Workspace.objects.create(name="Partner Co", slug="partner", kind=Workspace.Kind.PARTNER)


def make_api_key(workspace: Workspace, *, is_staff: bool = False) -> str:
    raw, prefix = ApiKey.generate()
    ApiKey.objects.create(
        workspace=workspace, prefix=prefix, hashed_key=ApiKey.hash(raw), is_staff=is_staff
    )
    return raw


@pytest.fixture
def api_key(workspace) -> str:
    return make_api_key(workspace)


@pytest.fixture
def api_client(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client

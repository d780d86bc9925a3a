import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from core.roles import roles_upsert
from leads.models import ApiKey, Workspace
from leads.services import member_create
from tests.calllogs.mariadb import MARKER, mariadb_unavailable, mariadb_url

# Shared fixtures of external-system doubles (usable from any test folder).
pytest_plugins = ["tests.dialer.fixtures", "tests.calllogs.fixtures", "tests.broadcast.fixtures"]


def pytest_collection_modifyitems(config, items):
    """Tests that read a Vici database (marker ``needs_mariadb``, or the ``vici_db``
    fixture) are skipped, with the reason in the summary, when no MariaDB is there; every
    other test runs without one."""
    needing = [
        item
        for item in items
        if item.get_closest_marker(MARKER) or "vici_db" in getattr(item, "fixturenames", ())
    ]
    if not needing:
        return
    reason = mariadb_unavailable(mariadb_url())
    for item in needing:
        item.add_marker(MARKER)
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"needs MariaDB: {reason}"))


@pytest.fixture(autouse=True)
def _clean_cache(monkeypatch):
    # Only our own keys (KEY_PREFIX), so a Celery broker on the same Redis is untouched.
    cache.delete_pattern("*")
    # What this process remembers of routing's wake key goes with it.
    from routing import tasks as routing_tasks

    monkeypatch.setattr(routing_tasks, "_last_wake", 0.0)
    monkeypatch.setattr(routing_tasks, "_last_taken", -1e9)
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


def make_api_key(workspace: Workspace, *, is_staff: bool = False, is_manager: bool = False) -> str:
    raw, prefix = ApiKey.generate()
    ApiKey.objects.create(
        workspace=workspace,
        prefix=prefix,
        hashed_key=ApiKey.hash(raw),
        is_staff=is_staff,
        is_manager=is_manager,
    )
    return raw


def key_client(workspace: Workspace, **flags) -> APIClient:
    """An API client holding a new key of ``workspace`` (``is_manager=True``: a manager's)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(workspace, **flags)}")
    return client


@pytest.fixture
def manager(workspace) -> APIClient:
    """A manager's key of ``workspace`` (the configuration API)."""
    return key_client(workspace, is_manager=True)


@pytest.fixture
def other(db) -> Workspace:
    return Workspace.objects.create(name="Other", slug="other")


@pytest.fixture
def other_manager(other) -> APIClient:
    return key_client(other, is_manager=True)


@pytest.fixture
def api_key(workspace) -> str:
    return make_api_key(workspace)


@pytest.fixture
def api_client(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@pytest.fixture
def roles(db) -> None:
    """The role groups with their permissions, as ``manage.py setup_roles`` makes them."""
    roles_upsert()


def make_member(username: str, workspace: Workspace, role: str, password: str = "pw-Secret-1"):
    """A person with ``role`` in ``workspace`` (needs the ``roles`` fixture)."""
    return member_create(username=username, workspace=workspace, role=role, password=password)


@pytest.fixture
def worlds(roles):
    """Two workspaces with one of everything (``tests.scoping``): (mine, theirs)."""
    from tests.scoping import make_worlds

    return make_worlds()

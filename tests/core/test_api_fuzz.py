"""The whole API fuzzed from its OpenAPI schema (schemathesis): with a workspace key, a staff
key and a manager key (the configuration API), no answer is a 5xx and every answer matches
the schema (a documented status code and content type, a body of the documented shape).

Bounded: the explicit examples and 25 generated examples per operation (FUZZ_EXAMPLES),
a fixed seed, no coverage or stateful phase. One real gunicorn serves the test database for
the whole module (seeded once, flushed at the end), so nothing is flushed per operation.
"""

import json
import os

import pytest
import requests
import schemathesis
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from broadcast.models import Device, Sequence
from dialer.models import ViciList, ViciServer
from leads.models import Suppression, Workspace
from routing.models import RoutingRule
from tests.broadcast.fixtures import make_sequence
from tests.conftest import make_api_key
from tests.gunicorn_server import Gunicorn
from tests.routing.factories import make_leads, make_rule

# The tests themselves only talk HTTP; the mark makes pytest-django create the test
# database, which the module's fixture seeds (committed) and gunicorn serves.
pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SEED = 20261203
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
KNOWN: dict[str, list[int]] = {}  # path parameter -> ids of seeded objects


def openapi() -> dict:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


# The coverage phase generates every boundary case of every parameter, unbounded by
# max_examples; the explicit examples and the bounded fuzzing phase keep the run short.
CONFIG = SchemathesisConfig.from_dict(
    {"seed": SEED, "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_dict(openapi(), config=CONFIG)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, a path parameter names a seeded object (else mostly 404s)."""
    known = {
        name: st.sampled_from(KNOWN[name]) for name in path_parameters or {} if KNOWN.get(name)
    }
    if not known:
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters), st.fixed_dictionaries(known)).map(
        lambda chosen: {**path_parameters, **chosen}
    )


def seed_configuration(workspace: Workspace, rule: RoutingRule, sequence: Sequence) -> list[int]:
    """One of each configurable object (the ``{id}`` of the configuration API's paths)."""
    server = ViciServer.objects.create(
        name="fuzz", api_url="http://127.0.0.1:9/", api_user="u", workspace=workspace
    )
    vici_list = ViciList.objects.create(server=server, workspace=workspace, list_id=1, name="l")
    device = Device.objects.create(
        workspace=workspace, name="d", phone="+15550001111", gateway_url="http://127.0.0.1:9/"
    )
    suppression = Suppression.objects.create(workspace=workspace, kind="phone", value="+1555")
    destination = rule.destinations.get()
    return [o.pk for o in (server, vici_list, device, sequence, suppression, destination)]


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    """Seed the test database (committed), serve it with gunicorn, flush it at the end."""
    with django_db_blocker.unblock():
        workspace = Workspace.objects.create(name="Fuzz", slug="fuzz")
        keys = {
            "workspace": make_api_key(workspace),
            "staff": make_api_key(workspace, is_staff=True),
            "manager": make_api_key(workspace, is_manager=True),
        }
        KNOWN["lead_id"] = make_leads(workspace, 3, state="CA")
        rule = make_rule(
            "fuzz",
            conditions=[{"field": "state", "operator": "eq", "value": "CA"}],
            destinations=[{"workspace": workspace}],
        )
        KNOWN["rule_id"] = [rule.pk]
        sequence = make_sequence(workspace, "Hi {first_name}")
        KNOWN["id"] = seed_configuration(workspace, rule, sequence)
        KNOWN["server_id"] = KNOWN["id"][:1]
        server = Gunicorn(tmp_path_factory.mktemp("fuzz") / "access.log", WEB_THREADS="4")
        try:
            server.wait_ready()
            yield server, keys
        finally:
            server.stop()
            KNOWN.clear()
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture(params=["workspace", "staff", "manager"])
def api_headers(request, seeded):
    return {"Authorization": f"Api-Key {seeded[1][request.param]}"}


@schema.parametrize()
@seed(SEED)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api(case, seeded, api_headers, http):
    server, _ = seeded
    case.call_and_validate(base_url=server.url, session=http, headers=api_headers, checks=CHECKS)

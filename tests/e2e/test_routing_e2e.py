"""Intake -> leads_ingested on commit -> routing task on a real worker -> routed."""

import pytest

from leads.models import Lead
from leads.services import lead_ingest_batch
from tests.e2e.conftest import wait_until
from tests.routing.factories import make_rule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_ingested_leads_are_routed_by_a_real_worker(workspace, celery_worker):
    make_rule("all", destinations=[{"workspace": workspace}])
    celery_worker("routing")
    results = lead_ingest_batch(
        workspace=workspace, rows=[{"phone": f"+1 415 555 {n:04d}"} for n in range(20)]
    )
    ids = [r.id for r in results]
    wait_until(
        lambda: Lead.objects.filter(id__in=ids, status="routed").count() == 20,
        what="20 leads routed by the worker",
    )
    assert set(Lead.objects.filter(id__in=ids).values_list("locked_by", flat=True)) == {""}

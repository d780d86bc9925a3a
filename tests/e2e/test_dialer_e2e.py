"""The beat task fans out a drain per server; a real worker pushes to the VICIdial double."""

import pytest

from dialer import services
from dialer.tasks import outbox_drain_all_task
from leads.models import Lead
from tests.e2e.conftest import wait_until
from tests.routing.factories import make_leads

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_drains_the_outbox(workspace, server, vici_list, vici, celery_worker):
    ids = make_leads(workspace, 12)
    services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk)
    celery_worker("dialer")
    outbox_drain_all_task.delay()
    wait_until(
        lambda: Lead.objects.filter(id__in=ids, vici_lead_id__isnull=False).count() == 12,
        what="12 leads pushed by the worker",
    )
    assert len(vici.state.leads) == 12

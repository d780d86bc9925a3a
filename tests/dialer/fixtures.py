import pytest

from dialer.models import ViciList, ViciServer
from dialer.services import server_set_password
from simulators.vicidial import ViciSimulator


@pytest.fixture
def vici():
    double = ViciSimulator().start()
    double.add_list(1001)
    double.add_list(1002)
    yield double
    double.stop()


@pytest.fixture
def server(db, vici) -> ViciServer:
    server = ViciServer.objects.create(
        name="vici1", api_url=vici.url, api_user="crmapi", source="leadbrain", timeout_seconds=2
    )
    server_set_password(server=server, password="Secret123")
    return server


@pytest.fixture
def vici_list(server) -> ViciList:
    return ViciList.objects.create(
        server=server, list_id=1001, campaign_id="TESTCAMP", name="Solar", duplicate_check="DUPLIST"
    )


@pytest.fixture
def other_list(server) -> ViciList:
    return ViciList.objects.create(
        server=server,
        list_id=1002,
        campaign_id="TESTCAMP",
        name="Solar 2",
        duplicate_check="DUPLIST",
    )

import importlib
import secrets
from urllib.parse import urlsplit

import pymysql
import pytest

from calllogs.models import DispositionMap, ServerHook
from dialer.models import ViciServer
from tests.calllogs.mariadb import mariadb_url

SCHEMA = [
    """CREATE TABLE vicidial_log (uniqueid VARCHAR(20) PRIMARY KEY, lead_id INT(9) UNSIGNED,
       list_id BIGINT(14) UNSIGNED, campaign_id VARCHAR(8), call_date DATETIME,
       start_epoch INT(10) UNSIGNED, end_epoch INT(10) UNSIGNED, length_in_sec INT(10),
       status VARCHAR(6), phone_code VARCHAR(10), phone_number VARCHAR(18), user VARCHAR(20),
       comments VARCHAR(255), processed ENUM('Y','N'), user_group VARCHAR(20),
       term_reason ENUM('CALLER','AGENT','QUEUETIMEOUT','ABANDON','AFTERHOURS','NONE','SYSTEM')
       DEFAULT 'NONE', alt_dial VARCHAR(6) DEFAULT 'NONE', called_count SMALLINT UNSIGNED,
       INDEX (lead_id), INDEX (call_date))""",
    """CREATE TABLE vicidial_closer_log (closecallid INT(9) UNSIGNED AUTO_INCREMENT PRIMARY KEY,
       lead_id INT(9) UNSIGNED, list_id BIGINT(14) UNSIGNED, campaign_id VARCHAR(20),
       call_date DATETIME, start_epoch INT(10) UNSIGNED, end_epoch INT(10) UNSIGNED,
       length_in_sec INT(10), status VARCHAR(6), phone_code VARCHAR(10),
       phone_number VARCHAR(18), user VARCHAR(20), comments VARCHAR(255), processed ENUM('Y','N'),
       queue_seconds DECIMAL(7,2) DEFAULT 0, user_group VARCHAR(20), xfercallid INT(9) UNSIGNED,
       term_reason VARCHAR(20) DEFAULT 'NONE', uniqueid VARCHAR(20), agent_only VARCHAR(20),
       queue_position SMALLINT UNSIGNED DEFAULT 1, called_count SMALLINT UNSIGNED,
       INDEX (lead_id), INDEX (call_date), INDEX (campaign_id), INDEX (uniqueid))""",
    """CREATE TABLE vicidial_list (lead_id INT(9) UNSIGNED AUTO_INCREMENT PRIMARY KEY,
       entry_date DATETIME, status VARCHAR(6), user VARCHAR(20), vendor_lead_code VARCHAR(20),
       source_id VARCHAR(50), list_id BIGINT(14) UNSIGNED NOT NULL DEFAULT 0,
       phone_code VARCHAR(10), phone_number VARCHAR(18) NOT NULL, called_count SMALLINT
       UNSIGNED DEFAULT 0, INDEX (phone_number), INDEX (list_id))""",
    """CREATE TABLE recording_log (recording_id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY,
       channel VARCHAR(100), server_ip VARCHAR(15), extension VARCHAR(100), start_time DATETIME,
       start_epoch INT(10) UNSIGNED, end_time DATETIME, end_epoch INT(10) UNSIGNED,
       length_in_sec MEDIUMINT(8) UNSIGNED, length_in_min DOUBLE(8,2), filename VARCHAR(100),
       location VARCHAR(255), lead_id INT(9) UNSIGNED, user VARCHAR(20), vicidial_id VARCHAR(20),
       INDEX (vicidial_id))""",
]


class ViciDatabase:
    def __init__(self, base_url: str, name: str) -> None:
        parts = urlsplit(base_url)
        self.kwargs = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": parts.username or "root",
            "password": parts.password or "",
        }
        self.name = name
        self.url = (
            f"mysql://{self.kwargs['user']}:{self.kwargs['password']}@"
            f"{self.kwargs['host']}:{self.kwargs['port']}/{name}"
        )

    def execute(self, sql: str, params=None) -> None:
        conn = pymysql.connect(database=self.name, autocommit=True, **self.kwargs)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
        finally:
            conn.close()

    def add_call(
        self,
        *,
        uniqueid: str,
        lead_id: int,
        status: str,
        length: int = 30,
        list_id: int = 1001,
        phone: str = "4155550100",
        user: str = "agent7",
        recording: str = "",
        inbound: bool = False,
        vendor_lead_code: str | None = None,
        answered: int | None = None,
    ) -> None:
        """A call as VICIdial logs it (``answered``: its start_epoch, if not the dial time);
        ``vendor_lead_code`` also writes the Vici lead."""
        epoch = int(uniqueid.split(".")[0])
        start = epoch if answered is None else answered
        if vendor_lead_code is not None:
            self.execute(
                "INSERT INTO vicidial_list (lead_id, vendor_lead_code, list_id, phone_number, "
                "status) VALUES (%s,%s,%s,%s,%s) ON DUPLICATE KEY UPDATE vendor_lead_code = "
                "VALUES(vendor_lead_code)",
                [lead_id, vendor_lead_code, list_id, phone, status],
            )
        if inbound:
            self.execute(
                "INSERT INTO vicidial_closer_log (lead_id, list_id, campaign_id, call_date, "
                "start_epoch, end_epoch, length_in_sec, status, phone_code, phone_number, user, "
                "term_reason, uniqueid) VALUES (%s,%s,'INGRP',FROM_UNIXTIME(%s),%s,%s,%s,%s,'1',"
                "%s,%s,'CALLER',%s)",
                [
                    lead_id,
                    list_id,
                    epoch,
                    start,
                    start + length,
                    length,
                    status,
                    phone,
                    user,
                    uniqueid,
                ],
            )
        else:
            self.execute(
                "INSERT INTO vicidial_log (uniqueid, lead_id, list_id, campaign_id, call_date, "
                "start_epoch, end_epoch, length_in_sec, status, phone_code, phone_number, user, "
                "term_reason) VALUES (%s,%s,%s,'TESTCAMP',FROM_UNIXTIME(%s),%s,%s,%s,%s,'1',%s,"
                "%s,'AGENT')",
                [
                    uniqueid,
                    lead_id,
                    list_id,
                    epoch,
                    start,
                    start + length,
                    length,
                    status,
                    phone,
                    user,
                ],
            )
        if recording:
            self.add_recording(uniqueid=uniqueid, location=recording, inbound=inbound)

    def add_recording(self, *, uniqueid: str, location: str, inbound: bool = False) -> None:
        """A recording of a logged call (several when a recording was restarted); its
        ``vicidial_id`` is the uniqueid, or the closecallid of an inbound call."""
        key = (
            "(SELECT CAST(MAX(closecallid) AS CHAR) FROM vicidial_closer_log WHERE uniqueid = %s)"
            if inbound
            else "%s"
        )
        self.execute(
            "INSERT INTO recording_log (start_epoch, filename, location, vicidial_id) "
            f"VALUES (%s, 'f', %s, {key})",
            [int(uniqueid.split(".")[0]), location, uniqueid],
        )


@pytest.fixture
def vici_db():
    """A uniquely named MariaDB database with VICIdial's call-log tables. A test using it is
    marked ``needs_mariadb`` (tests/conftest.py): skipped, with the reason, without MariaDB."""
    base = mariadb_url()
    name = f"vici_test_{secrets.token_hex(4)}"
    db = ViciDatabase(base, name)
    admin = pymysql.connect(autocommit=True, **db.kwargs)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        for statement in SCHEMA:
            db.execute(statement)
        yield db
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name}")
        admin.close()


@pytest.fixture
def dispositions(db) -> None:
    """The seeded statuses (a data migration). Transactional tests flush tables, so seed
    them again the same way when a flush removed them."""
    from django.apps import apps

    if not DispositionMap.objects.exists():
        seed_migration = importlib.import_module("calllogs.migrations.0002_seed_dispositions")
        seed_migration.seed(apps, None)


@pytest.fixture
def call_server(request, db, dispositions) -> ViciServer:
    """A server with a call-URL token; its database is ``vici_db`` only when the test asks
    for that fixture (the webhook tests need no MariaDB)."""
    db_url = request.getfixturevalue("vici_db").url if "vici_db" in request.fixturenames else ""
    server = ViciServer.objects.create(
        name="vici-calls", api_url="http://127.0.0.1:9/api", api_user="crmapi", db_url=db_url
    )
    ServerHook.objects.create(server=server, token="tok-123")
    return server

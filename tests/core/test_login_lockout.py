"""Admin login lockout (django-axes): the Nth failure locks the username from that
address, a success before that resets the count, and the lock lifts after the cool-off."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

pytestmark = pytest.mark.django_db

URL = "/admin/login/"
PASSWORD = "correct-Horse-battery-9"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def login(client, password, *, username="boss", ip="10.0.0.1"):
    return client.post(
        f"{URL}?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def fail(client, times, **kwargs):
    for _ in range(times):
        response = login(client, "wrong", **kwargs)
        assert response.status_code == 200  # the form's error, not yet a lockout
        assert "Please enter the correct username and password" in response.content.decode()


def test_the_nth_failure_locks_out(client, staff, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    fail(client, 4)
    locked = login(client, "wrong")
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed logins" in text and "boss" in text and "0:15:00" in text
    # Even the right password is refused while locked.
    assert login(client, PASSWORD).status_code == 429


def test_a_success_before_the_limit_resets_the_count(client, staff):
    fail(client, 4)
    assert login(client, PASSWORD).status_code == 302
    client.logout()
    fail(client, 4)  # would be locked at the 5th of a running count
    assert login(client, PASSWORD).status_code == 302


def test_the_lock_is_per_username_and_address(client, staff, django_user_model):
    django_user_model.objects.create_superuser("other", "o@example.com", PASSWORD)
    fail(client, 4)
    assert login(client, "wrong").status_code == 429
    assert login(client, PASSWORD, ip="10.0.0.2").status_code == 302
    client.logout()
    assert login(client, PASSWORD, username="other").status_code == 302


def test_a_forwarded_header_does_not_change_the_address(client, staff):
    fail(client, 4)
    assert login(client, "wrong").status_code == 429
    response = client.post(
        URL,
        {"username": "boss", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.77",
    )
    assert response.status_code == 429


def test_the_lock_lifts_after_the_cool_off(client, staff):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        fail(client, 4)
        assert login(client, "wrong").status_code == 429
        clock.shift(timedelta(minutes=16))
        assert login(client, PASSWORD).status_code == 302

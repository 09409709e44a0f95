"""Issue 11, item 8: guessing is throttled per client address, with 429 and Retry-After.

Log-ins (the affiliate login page and admin's) through django-axes; API keys through a DRF
throttle that counts only failed keys.
"""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.factories import PASSWORD, StaffFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db

LOGIN_PAGES = {"login": "login", "admin": "admin:login"}
COOL_OFF_SECONDS = round(settings.AXES_COOLOFF_TIME * 3600)


def login(client, page: str, username: str, password: str):
    return client.post(reverse(LOGIN_PAGES[page]), {"username": username, "password": password})


def assert_throttled(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_login_wrong_passwords_for_one_user_give_429_with_retry_after(page):
    user = StaffFactory() if page == "admin" else UserFactory()
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, page, user.username, "wrong-one").status_code == 200
    # the failure that reaches the limit is itself answered 429
    assert_throttled(login(client, page, user.username, "wrong-one"))

    locked = login(client, page, user.username, PASSWORD)

    assert_throttled(locked)
    assert int(locked["Retry-After"]) == COOL_OFF_SECONDS
    assert b"Too many failed log-ins" in locked.content
    # The same user from another address is not locked out by this one.
    elsewhere = login(Client(REMOTE_ADDR="198.51.100.20"), page, user.username, PASSWORD)
    assert elsewhere.status_code == 302


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_login_one_address_trying_many_usernames_is_locked(page, settings):
    settings.FBS_LOGIN_FAILURES_PER_ADDRESS = 6
    victim = StaffFactory() if page == "admin" else UserFactory()
    guesser = Client(REMOTE_ADDR="203.0.113.8")
    # one wrong password for each of many usernames: no pair reaches AXES_FAILURE_LIMIT
    for n in range(settings.FBS_LOGIN_FAILURES_PER_ADDRESS - 1):
        assert login(guesser, page, f"someone{n}", "password1").status_code == 200
    assert_throttled(login(guesser, page, "someone-last", "password1"))

    # then even the right password for a real account is refused from that address
    assert_throttled(login(guesser, page, victim.username, PASSWORD))
    # and the same account logs in from another address
    assert (
        login(Client(REMOTE_ADDR="198.51.100.21"), page, victim.username, PASSWORD).status_code
        == 302
    )


def test_login_forwarded_for_header_does_not_change_the_address(settings):
    """Without trusted proxies a client's X-Forwarded-For is ignored, so a guesser cannot
    present a new address with every try."""
    settings.FBS_LOGIN_FAILURES_PER_ADDRESS = 4
    for n in range(settings.FBS_LOGIN_FAILURES_PER_ADDRESS):
        Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").post(
            reverse("login"), {"username": f"someone{n}", "password": "x"}
        )

    again = Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.9.9.9").post(
        reverse("login"), {"username": "someone-else", "password": "x"}
    )

    assert_throttled(again)


# --- API keys --------------------------------------------------------------------------------

BAD_KEY_LIMIT = 10  # settings: FBS_API_THROTTLE_BAD_KEY, default 10/minute


@pytest.fixture(autouse=True)
def own_throttle_cache(monkeypatch):
    """The throttle's history in a cache of this process alone: the suite's autouse fixture
    clears the shared cache before every test, and under xdist another worker's test would wipe
    the history in the middle of this one."""
    from django.core.cache.backends.locmem import LocMemCache

    from affiliates.throttling import ApiKeyFailureThrottle

    private = LocMemCache("api-key-failure-tests", {})
    monkeypatch.setattr(ApiKeyFailureThrottle, "cache", private)
    return private


def api(address: str, key: str | bytes) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_api_bad_keys_give_429_with_retry_after_and_a_good_key_elsewhere_works():
    user = UserFactory()
    _, good = make_api_key(user)
    guesser = "203.0.113.10"

    statuses = [
        api(guesser, f"fbs_guess-{n}").get("/api/v1/me").status_code for n in range(BAD_KEY_LIMIT)
    ]
    throttled = api(guesser, "fbs_guess-again").get("/api/v1/me")

    assert statuses == [401] * BAD_KEY_LIMIT
    assert_throttled(throttled)
    assert throttled.json()["error"]["code"] == "throttled"
    # No key from the throttled address is even looked at, right or wrong.
    assert api(guesser, good).get("/api/v1/me").status_code == 429
    # The good key from another address works.
    me = api("198.51.100.30", good).get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["username"] == user.username


def test_api_good_keys_are_not_counted():
    _, good = make_api_key(UserFactory())
    client = api("203.0.113.11", good)

    statuses = {client.get("/api/v1/me").status_code for _ in range(BAD_KEY_LIMIT + 5)}

    assert statuses == {200}


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bad=st.lists(
        st.one_of(
            st.text(min_size=1, max_size=80).filter(lambda s: s.strip() and "\n" not in s),
            st.binary(min_size=1, max_size=40).filter(lambda b: b.strip() and b"\n" not in b),
        ),
        min_size=BAD_KEY_LIMIT,
        max_size=BAD_KEY_LIMIT + 3,
    )
)
def test_api_any_kind_of_bad_key_counts_and_nothing_gives_5xx(own_throttle_cache, bad):
    own_throttle_cache.clear()
    address = "203.0.113.12"
    statuses = []
    for key in bad:
        header = b"Bearer " + (key if isinstance(key, bytes) else key.encode())
        client = APIClient(REMOTE_ADDR=address)
        statuses.append(client.get("/api/v1/me", HTTP_AUTHORIZATION=header).status_code)

    assert set(statuses[:BAD_KEY_LIMIT]) <= {401}
    assert set(statuses[BAD_KEY_LIMIT:]) <= {429}
    assert_throttled(
        APIClient(REMOTE_ADDR=address).get("/api/v1/me", HTTP_AUTHORIZATION="Bearer x")
    )

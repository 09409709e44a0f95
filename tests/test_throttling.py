"""Issue 11, item 8: guessing is throttled per client address, with 429 and Retry-After.

Log-ins (the affiliate login page and admin's) through django-axes; API keys through a DRF
throttle that counts only failed keys.
"""

import ipaddress
import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from auditlog.models import LogEntry
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from sophio_fbs.inputs import has_invalid_characters
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


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_api_concurrent_bad_keys_get_at_most_the_limit_of_401s(live_server, monkeypatch):
    """Guesses sent all at once are counted as they arrive, not after their keys are checked:
    of 40 bad keys in flight together, only the limit's worth is looked at (401), the rest get
    429, with the seconds left in the window."""
    from django.core.cache.backends.redis import RedisCache

    from affiliates.throttling import ApiKeyFailureThrottle

    # Redis as in production, in a database the suite's cache.clear() (FLUSHDB, before every
    # test of every xdist worker) does not wipe in the middle of this test; keys of this run only.
    redis_cache = RedisCache(settings.CELERY_BROKER_URL, {"KEY_PREFIX": f"t-{uuid.uuid4().hex}"})
    monkeypatch.setattr(ApiKeyFailureThrottle, "cache", redis_cache)
    # The throttle's clock stands still 15 s into a window (of the 60 s of 10/minute), so the
    # burst cannot straddle two windows and Retry-After is known.
    window_start = 1_700_000_040
    monkeypatch.setattr(ApiKeyFailureThrottle, "timer", staticmethod(lambda: window_start + 15))
    tries = 40
    start = threading.Barrier(tries)

    def guess(n: int) -> tuple[int, str | None]:
        request = urllib.request.Request(  # noqa: S310 - the live server on 127.0.0.1
            f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer fbs_guess-{n}"}
        )
        start.wait(timeout=60)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return response.status, None
        except urllib.error.HTTPError as refused:
            return refused.code, refused.headers.get("Retry-After")

    with ThreadPoolExecutor(max_workers=tries) as pool:
        answers = list(pool.map(guess, range(tries)))

    statuses = Counter(status for status, _ in answers)
    assert statuses == {401: BAD_KEY_LIMIT, 429: tries - BAD_KEY_LIMIT}
    assert {wait for status, wait in answers if status == 429} == {"45"}


def test_api_throttle_retry_after_is_the_rest_of_the_window_and_then_keys_are_checked(
    monkeypatch,
):
    from affiliates.throttling import ApiKeyFailureThrottle

    _, good = make_api_key(UserFactory())
    now = {"t": 1_700_000_040.0}  # a window starts here (10/minute: windows of 60 s)
    monkeypatch.setattr(ApiKeyFailureThrottle, "timer", staticmethod(lambda: now["t"]))
    guesser = "203.0.113.13"
    for n in range(BAD_KEY_LIMIT):
        now["t"] += 1
        assert api(guesser, f"fbs_guess-{n}").get("/api/v1/me").status_code == 401

    now["t"] = 1_700_000_040 + 59.5
    last_moment = api(guesser, good).get("/api/v1/me")
    now["t"] = 1_700_000_040 + 60
    next_window = api(guesser, good).get("/api/v1/me")

    assert_throttled(last_moment)
    assert last_moment["Retry-After"] == "1"
    assert next_window.status_code == 200


# --- Which address a request comes from ----------------------------------------------------------

VALID_IPS = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
HOPS = st.one_of(
    VALID_IPS,
    st.ip_addresses(v=4).map(lambda ip: f"{ip}:{8000 + int(ip) % 1000}"),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]:443"),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    st.sampled_from(["garbage", "unknown", "", " ", "1.2.3", "1.2.3.4.5", "01.2.3.4", "::1]"]),
    st.sampled_from(["fe80::1%eth0", "[fe80::1%25eth0]:80", "256.1.1.1", "1.2.3.4:x", "[::1"]),
    st.text(alphabet=st.characters(max_codepoint=255, exclude_characters="\r\n,"), max_size=30),
)
FORWARDED_FOR = st.one_of(
    st.lists(HOPS, max_size=5).map(", ".join),
    st.text(alphabet=st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=60),
)


def is_ip(value) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "%" not in value  # PostgreSQL's inet takes no IPv6 zone


def request_from(remote_addr: str, forwarded: str | None):
    meta = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


@pytest.mark.parametrize(
    ("forwarded", "proxies", "expected"),
    [
        ("198.51.100.1, 10.0.0.1", 1, "10.0.0.1"),
        ("198.51.100.1, 10.0.0.1", 2, "198.51.100.1"),
        # Fewer hops than proxies: the request did not come through them all, and the one entry
        # may be the client's own say.
        ("198.51.100.1", 2, "192.0.2.1"),
        ("198.51.100.1, 10.0.0.1", 3, "192.0.2.1"),
        # What a proxy may write: a port, IPv6 in brackets.
        ("198.51.100.1:5678", 1, "198.51.100.1"),
        ("[2001:db8::1]:443", 1, "2001:db8::1"),
        ("[2001:db8::1]", 1, "2001:db8::1"),
        ("2001:db8::1", 1, "2001:db8::1"),
        # Not an address: the connection's own.
        ("garbage", 1, "192.0.2.1"),
        ("1.2.3.4:5678:9", 1, "192.0.2.1"),
        ("fe80::1%eth0", 1, "fe80::1"),
        ("198.51.100.1, 10.0.0.1", 0, "192.0.2.1"),
    ],
)
def test_client_address_takes_a_valid_hop_our_proxies_wrote(settings, forwarded, proxies, expected):
    from affiliates.throttling import client_address

    settings.FBS_TRUSTED_PROXIES = proxies

    assert client_address(request_from("192.0.2.1", forwarded)) == expected


@hypothesis_settings(max_examples=300, deadline=None)
@given(forwarded=st.one_of(st.none(), FORWARDED_FOR), proxies=st.integers(0, 4))
def test_client_address_is_always_an_ip_our_proxies_saw_or_the_connections(forwarded, proxies):
    from django.test import override_settings

    from affiliates.throttling import client_address

    with override_settings(FBS_TRUSTED_PROXIES=proxies):
        address = client_address(request_from("192.0.2.1", forwarded))

    assert is_ip(address)
    hops = [hop.strip() for hop in (forwarded or "").split(",") if hop.strip()]
    if proxies == 0 or len(hops) < proxies:
        assert address == "192.0.2.1"


@pytest.mark.postgres
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    forwarded=FORWARDED_FOR,
    proxies=st.integers(0, 3),
    page=st.sampled_from(list(LOGIN_PAGES)),
    right=st.booleans(),
)
def test_login_with_any_forwarded_for_never_fails_and_records_an_ip(
    settings, forwarded, proxies, page, right
):
    """axes' ip_address is an inet column on PostgreSQL: an address that is not one would turn
    the log-in into a 500."""
    settings.FBS_TRUSTED_PROXIES = proxies
    user = StaffFactory() if page == "admin" else UserFactory()
    client = Client(REMOTE_ADDR="192.0.2.2", HTTP_X_FORWARDED_FOR=forwarded)

    response = login(client, page, user.username, PASSWORD if right else "wrong-one")

    if has_invalid_characters(forwarded):
        # A header no request may carry is refused before anything reads it (sophio_fbs/inputs).
        assert response.status_code == 400
        return
    assert response.status_code in {200, 302, 429}
    recorded = [
        *AccessAttempt.objects.values_list("ip_address", flat=True),
        *AccessLog.objects.values_list("ip_address", flat=True),
    ]
    assert recorded
    assert all(is_ip(address) for address in recorded)


@pytest.mark.postgres
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(forwarded=FORWARDED_FOR, proxies=st.integers(0, 3), min_stock=st.integers(2, 50))
def test_audit_entry_with_any_forwarded_for_records_an_ip(settings, forwarded, proxies, min_stock):
    """auditlog's remote_addr is an inet column on PostgreSQL too."""
    settings.FBS_TRUSTED_PROXIES = proxies
    user = UserFactory(affiliate__min_stock=min_stock + 1)
    _, key = make_api_key(user, raw=f"fbs_test-{uuid.uuid4().hex}")
    client = api("192.0.2.3", key)

    response = client.patch(
        "/api/v1/me", {"min_stock": min_stock}, format="json", HTTP_X_FORWARDED_FOR=forwarded
    )

    if has_invalid_characters(forwarded):
        assert response.status_code == 400
        assert "X-Forwarded-For" in response.json()["error"]["fields"]
        return
    assert response.status_code == 200
    entry = LogEntry.objects.get_for_object(user.affiliate).latest("timestamp", "pk")
    assert entry.changes_dict["min_stock"] == [str(min_stock + 1), str(min_stock)]
    assert is_ip(entry.remote_addr)

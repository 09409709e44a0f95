"""What the client sends back to us is input too (issue 11, review of items 16-19): a page cursor
that is valid base64 JSON but holds anything at all, and cookies (session, CSRF) with characters
the database cannot take, are a 400 (or are treated as absent), never a 500."""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from affiliates.services import api_key_create
from tests.factories import PASSWORD, UserFactory
from tests.test_api_contract import BAD_CHARACTERS

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HYPOTHESIS = hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every endpoint and page that reads a `cursor` (with a search the catalog pages by another key).
CURSOR_API = [
    "/api/v1/catalog",
    "/api/v1/catalog?search=ab",
    "/api/v1/orders",
    "/api/v1/claims",
]
CURSOR_PAGES = ["/catalog/", "/catalog/?search=ab"]


def _cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# Any character, lone surrogates and controls included (st.characters() leaves surrogates out).
any_text = st.text(st.characters(exclude_categories=()), max_size=12)
special_text = st.sampled_from(["\x00", "a\x00b", "\ud800", "\udfff", "\x1b", "\x7f", "", "ÿ"])
texts = any_text | special_text
big_ints = st.integers() | st.sampled_from(
    [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30, -(10**30), 2**31]
)
datetimes = st.datetimes(
    timezones=st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(
        timezone
    )
    | st.none()
).map(datetime.isoformat)
scalars = st.none() | st.booleans() | big_ints | st.floats() | texts | datetimes
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
# Lists shaped like our cursors (str, str, id / timestamp, id), with any contents, and any JSON.
shaped = (
    st.tuples(texts | datetimes, texts, big_ints).map(list)
    | st.tuples(datetimes | texts, big_ints).map(list)
    | st.lists(scalars, max_size=5)
)
cursors = (shaped | json_values).map(_cursor)


@pytest.fixture
def key_client(client):
    client.raise_request_exception = False
    user = UserFactory(affiliate__min_stock=3)
    _, raw = api_key_create(user=user, name="cursors")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return client


@pytest.fixture
def page_client(client):
    client.raise_request_exception = False
    client.force_login(UserFactory(affiliate__min_stock=3))
    return client


def _with_cursor(path: str, cursor: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}cursor={cursor}"


@pytest.mark.parametrize(
    "value",
    [
        ["\x00", "a", 1],
        ["\ud800", "b", 1],
        ["a", "b\x00", 1],
        ["a", "b", 2**63],
        ["a", "b", -(2**63) - 1],
        ["a", "b", True],
        ["a", "b", 1.5],
        ["a", "b"],
        [["a"], "b", 1],
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/catalog", "/api/v1/catalog?search=ab"])
def test_api_catalog_cursor_that_decodes_to_bad_values_is_400(key_client, path, value):
    response = key_client.get(_with_cursor(path, _cursor(value)))

    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert list(error["fields"]) == ["cursor"]


@pytest.mark.parametrize(
    "value",
    [
        ["2024-01-01T00:00:00+00:00\x00", 1],
        ["2024-01-01T00:00:00+00:00", 2**63],
        ["2024-01-01T00:00:00+00:00", True],
        ["\ud800", 1],
        ["2024-01-01T00:00:00+00:00", 1, 2],
        {"2024-01-01T00:00:00+00:00": 1, "x": 2},
        # Instants outside Python's years once in UTC.
        ["0001-01-01T00:00:00+23:00", 1],
        ["9999-12-31T23:59:59-23:00", 1],
    ],
)
def test_api_orders_cursor_that_decodes_to_bad_values_is_400(key_client, value):
    response = key_client.get(_with_cursor("/api/v1/orders", _cursor(value)))

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()["error"]["fields"]) == ["cursor"]


@pytest.mark.parametrize("value", [["\x00", "a", 1], ["\ud800", "b", 1], ["a", "b", 2**64]])
@pytest.mark.parametrize("path", CURSOR_PAGES)
def test_catalog_page_cursor_that_decodes_to_bad_values_shows_the_first_page(
    page_client, path, value
):
    response = page_client.get(_with_cursor(path, _cursor(value)))

    assert response.status_code == 200
    assert "That page link has expired" in response.content.decode()


def test_a_cursor_we_gave_still_pages(key_client):
    """The checks do not refuse our own cursors: a valid one is read back."""
    good = _cursor(["A", "B", 1])
    assert key_client.get(_with_cursor("/api/v1/catalog", good)).status_code == 200
    stamp = datetime(2024, 1, 1, tzinfo=UTC).isoformat()
    assert key_client.get(_with_cursor("/api/v1/orders", _cursor([stamp, 5]))).status_code == 200
    # An offset PostgreSQL does not take as such (fractions of a second) is still an instant.
    odd = _cursor(["0134-12-14T18:11:24.012426-14:58:35.921497", 1])
    assert key_client.get(_with_cursor("/api/v1/orders", odd)).status_code == 200


@given(path=st.sampled_from(CURSOR_API), cursor=cursors)
@HYPOTHESIS
def test_api_any_json_in_a_cursor_is_200_or_400_never_500(key_client, path, cursor):
    response = key_client.get(_with_cursor(path, cursor))

    assert response.status_code in (200, 400), (cursor, response.content[:300])
    if response.status_code == 400:
        assert list(response.json()["error"]["fields"]) == ["cursor"]


@given(path=st.sampled_from(CURSOR_PAGES), cursor=cursors)
@HYPOTHESIS
def test_pages_any_json_in_a_cursor_is_200_never_500(page_client, path, cursor):
    response = page_client.get(_with_cursor(path, cursor))

    assert response.status_code == 200, (cursor, response.content[:300])


def test_a_cursor_too_long_or_too_deep_is_400(key_client):
    raw = ("[" * 5000 + "]" * 5000).encode()
    deep = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert key_client.get(_with_cursor("/api/v1/catalog", deep)).status_code == 400
    long = _cursor(["a" * 2000, "b", 1])
    assert key_client.get(_with_cursor("/api/v1/orders", long)).status_code == 400


@given(cursor=big_ints.map(str) | st.text(max_size=12))
@HYPOTHESIS
def test_api_claims_cursor_of_any_size_or_text_is_200_or_400(key_client, cursor):
    """The claims list pages by id alone: its cursor is a whole number, of any size."""
    response = key_client.get("/api/v1/claims", {"cursor": cursor})

    assert response.status_code in (200, 400), (cursor, response.content[:300])


# --- Cookies and headers -----------------------------------------------------------------------

# Characters a request's head may bring that may not be stored (a WSGI server hands headers over
# as latin-1, so no surrogate arrives there).
head_bad_text = st.tuples(
    st.text(st.characters(max_codepoint=0xFF), max_size=10),
    st.sampled_from(BAD_CHARACTERS),
    st.text(st.characters(max_codepoint=0xFF), max_size=10),
).map("".join)
# What the client sends back to us in cookies, and pages and endpoints that read them.
COOKIES = ["sessionid", "csrftoken", "messages", "other"]
HEAD_PATHS = ["/", "/catalog/", "/orders/", "/settings/", "/login/", "/api/v1/me", "/api/v1/orders"]


@pytest.fixture
def anon(client):
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize("path", ["/", "/login/", "/api/v1/me"])
@pytest.mark.parametrize("character", ["\x00", "\x01", "\x7f"])
def test_session_cookie_with_a_bad_character_is_no_session(anon, path, character):
    response = anon.get(path, HTTP_COOKIE=f"sessionid=abcdefgh{character}ijklmnop")

    assert response.status_code in (200, 302, 401), response.content[:300]


def test_logged_in_browser_with_a_bad_session_cookie_can_log_in_again(anon):
    user = UserFactory(affiliate__min_stock=3)
    anon.cookies["sessionid"] = "abcdefgh\x00ijklmnop"

    assert anon.get("/").status_code == 302  # to the log-in page: no session
    response = anon.post("/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302
    assert "\x00" not in anon.cookies["sessionid"].value
    assert anon.get("/catalog/").status_code == 200


@given(path=st.sampled_from(HEAD_PATHS), name=st.sampled_from(COOKIES), value=head_bad_text)
@HYPOTHESIS
def test_any_cookie_with_a_bad_character_is_ignored_never_500(anon, path, name, value):
    # Set in the header as sent, not through SimpleCookie (which would quote it).
    response = anon.get(path, HTTP_COOKIE=f"{name}={value.replace(';', '')}")

    assert response.status_code in (200, 302, 401), response.content[:300]


@given(value=head_bad_text)
@HYPOTHESIS
def test_csrf_cookie_with_a_bad_character_refuses_the_form_not_500(value):
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    response = client.post(
        "/login/",
        {"username": "nobody", "password": "x", "csrfmiddlewaretoken": value},
        HTTP_COOKIE=f"csrftoken={value.replace(';', '')}",
    )

    assert response.status_code == 403, response.content[:300]


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("HTTP_USER_AGENT", "User-Agent"),
        ("HTTP_ACCEPT", "Accept"),
        ("HTTP_ACCEPT_LANGUAGE", "Accept-Language"),
        ("HTTP_X_FORWARDED_FOR", "X-Forwarded-For"),
        ("HTTP_REFERER", "Referer"),
    ],
)
def test_failed_log_in_with_a_bad_character_in_a_header_is_a_400_naming_it(
    anon, settings, header, name
):
    """axes stores User-Agent, Accept and the address of every failed log-in."""
    settings.FBS_TRUSTED_PROXIES = 1

    response = anon.post(
        "/login/", {"username": "nobody", "password": "x"}, **{header: "text\x00more"}
    )

    assert response.status_code == 400
    assert name in response.content.decode()


@given(
    path=st.sampled_from(HEAD_PATHS),
    header=st.sampled_from(
        ["HTTP_USER_AGENT", "HTTP_ACCEPT", "HTTP_ACCEPT_LANGUAGE", "HTTP_HX_CURRENT_URL"]
    ),
    value=head_bad_text,
)
@HYPOTHESIS
def test_any_header_with_a_bad_character_is_400_never_500(anon, path, header, value):
    response = anon.get(path, **{header: value})

    assert response.status_code == 400, response.content[:300]
    if path.startswith("/api/"):
        assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("key", ["fbs_abc\x00def", "\x00", "fbs_\x1b[0m"])
def test_api_key_with_a_bad_character_is_a_wrong_key_not_a_500(anon, key):
    """Authorization is not refused as a header: it stays a wrong key (401), counted by the
    wrong-key throttle (tests/test_throttling.py)."""
    response = anon.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize("forwarded", ["notanip", "1.2.3.4x", "fe80::1%eth0", "", " , "])
def test_forwarded_for_that_is_not_an_address_is_not_taken(anon, settings, forwarded):
    """With proxies configured, the X-Forwarded-For entry taken as the client's address goes
    into an inet column (axes, the audit log): anything but an address falls back to
    REMOTE_ADDR instead of a DataError."""
    settings.FBS_TRUSTED_PROXIES = 1

    response = anon.post(
        "/login/", {"username": "nobody", "password": "x"}, HTTP_X_FORWARDED_FOR=forwarded
    )

    assert response.status_code == 200  # the form again, with its error

"""What the client sends back to us is input too (issue 11, review of items 16-19): a page cursor
that is valid base64 JSON but holds anything at all, and cookies (session, CSRF) with characters
the database cannot take, are a 400 (or are treated as absent), never a 500."""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from affiliates.services import api_key_create
from tests.factories import UserFactory

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

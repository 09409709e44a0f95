"""The API keeps its contract (issue 11, items 16-17): every answer under /api/v1/ is JSON in the
error shape, whoever produced it, and no input (characters the database refuses, numbers that
overflow, deep or huge bodies) gives a 500."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rest_framework.throttling import SimpleRateThrottle

from affiliates.services import api_key_create
from sophio_fbs.inputs import INVALID_CHARACTERS, MAX_JSON_DEPTH
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HYPOTHESIS = hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Characters no request may carry: every C0 control but tab, LF and CR, and DEL. (Lone
# surrogates can only arrive spelled inside JSON: tested there.)
BAD_CHARACTERS = [chr(c) for c in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)]


@pytest.fixture
def key_user():
    user = UserFactory(affiliate__min_stock=3)
    _, raw = api_key_create(user=user, name="contract")
    return user, {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def anon(client):
    client.raise_request_exception = False
    return client


def _error(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    return body["error"]


def bad_text():
    """Text with at least one character that may not be stored, anywhere in it."""
    return st.tuples(st.text(max_size=8), st.sampled_from(BAD_CHARACTERS), st.text(max_size=8)).map(
        "".join
    )


# --- 16: every error is JSON in the error shape ----------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope",
        "/api/v1/",
        "/api/v1/orders/",
        "/api/v1/orders/abc",
        "/api/v1/orders/-1",
        "/api/v1/orders/1.5/pay",
        "/api/v1/catalog/x",
        "/api/v1/claims/1e3",
        "/api/v1/payment-methods/abc/default",
        "/api/v2/me",
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_api_unknown_route_or_wrong_type_id_is_a_json_404(anon, key_user, settings, path, debug):
    settings.DEBUG = debug
    _, auth = key_user

    for headers in ({}, auth):
        response = anon.get(path, **headers)

        assert response.status_code == 404
        assert _error(response)["code"] == "not_found"


def test_api_405_is_json_and_says_allow(anon, key_user):
    _, auth = key_user

    response = anon.delete("/api/v1/me", **auth)

    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"
    assert "PATCH" in response["Allow"]


def test_api_406_is_json(anon, key_user):
    _, auth = key_user

    response = anon.get("/api/v1/me", HTTP_ACCEPT="application/xml", **auth)

    assert response.status_code == 406
    assert _error(response)["code"] == "not_acceptable"


def test_api_415_is_json(anon, key_user):
    _, auth = key_user

    response = anon.post("/api/v1/orders", data="x", content_type="text/plain", **auth)

    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({"marketplace": "x" * 5000})),
        ("application/x-www-form-urlencoded", "marketplace=" + "x" * 5000),
    ],
)
def test_api_body_over_the_stated_limit_is_a_json_413(anon, key_user, settings, content_type, body):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4000
    _, auth = key_user

    for path, method in (("/api/v1/orders", anon.post), ("/api/v1/me", anon.patch)):
        response = method(path, data=body, content_type=content_type, **auth)

        assert response.status_code == 413, response.content[:200]
        assert _error(response)["code"] == "request_too_large"


def test_api_body_at_the_limit_is_read(anon, key_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4000
    _, auth = key_user
    body = json.dumps({"marketplaces": ["ebay"], "pad": "x" * 3000})

    response = anon.patch("/api/v1/me", data=body, content_type="application/json", **auth)

    assert response.status_code == 200


class _EveryScope(dict):
    def __missing__(self, scope):
        return "2/minute"


def test_api_429_is_json_with_retry_after(anon, key_user, monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", _EveryScope())
    _, auth = key_user

    statuses = [anon.get("/api/v1/me", **auth).status_code for _ in range(3)]
    response = anon.get("/api/v1/me", **auth)

    assert statuses[:2] == [200, 200]
    assert response.status_code == 429
    assert _error(response)["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_api_500_is_json_and_says_nothing_inside(anon, key_user, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("orders.api.selectors.orders_for_affiliate", broken)
    _, auth = key_user

    response = anon.get("/api/v1/orders", **auth)

    assert response.status_code == 500
    assert _error(response)["code"] == "server_error"
    assert b"secret" not in response.content


def test_api_json_errors_keep_the_security_headers(anon, key_user):
    response = anon.get("/api/v1/nope")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert "default-src" in response["Content-Security-Policy"]


def _csv(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "text/csv",
        "text/csv; charset=utf-8",
        "text/*",
        "application/json;q=0.1, text/csv",
    ],
)
def test_api_catalog_csv_answers_csv_to_csv_any_and_no_accept(anon, key_user, accept):
    _, auth = key_user
    headers = {**auth, **({"HTTP_ACCEPT": accept} if accept else {})}

    response = anon.get("/api/v1/catalog.csv", **headers)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert _csv(response).startswith("line_code,part_number,description,qty,price")


def test_api_catalog_csv_refuses_json_only_and_errors_are_json(anon, key_user):
    _, auth = key_user

    refused = anon.get("/api/v1/catalog.csv", HTTP_ACCEPT="application/json", **auth)
    no_key = anon.get("/api/v1/catalog.csv", HTTP_ACCEPT="text/csv")

    assert refused.status_code == 406
    assert _error(refused)["code"] == "not_acceptable"
    assert no_key.status_code == 401
    assert _error(no_key)["code"] == "not_authenticated"


# --- 17: no input gives a 500; each bad one is a 400 naming the field -------------------------

API_LISTS = ["/api/v1/catalog", "/api/v1/orders", "/api/v1/claims", "/api/v1/me"]


@given(
    path=st.sampled_from(API_LISTS),
    name=st.sampled_from(["search", "status", "cursor", "limit", "line_code", "other"]),
    value=bad_text(),
)
@HYPOTHESIS
def test_api_query_string_with_a_bad_character_is_400_naming_it(anon, key_user, path, name, value):
    _, auth = key_user

    response = anon.get(path, {name: value}, **auth)

    assert response.status_code == 400
    assert name in _error(response)["fields"]


ORDER = {
    "marketplace": "ebay",
    "marketplace_order_id": "M-1",
    "ship_to": {
        "name": "Pat",
        "address1": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "postal_code": "78701",
    },
    "lines": [{"line_code": "ACD", "part_number": "P1", "qty": 1}],
}
ORDER_STRINGS = [
    ("marketplace",),
    ("marketplace_order_id",),
    ("ship_to", "name"),
    ("ship_to", "address1"),
    ("ship_to", "city"),
    ("ship_to", "state"),
    ("ship_to", "postal_code"),
    ("lines", 0, "line_code"),
    ("lines", 0, "part_number"),
]


def _dotted(path) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


def _with(document, path, value):
    document = json.loads(json.dumps(document))
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return document


@given(path=st.sampled_from(ORDER_STRINGS), value=bad_text())
@HYPOTHESIS
def test_api_json_string_with_a_bad_character_is_400_naming_it(anon, key_user, path, value):
    _, auth = key_user
    body = _with(ORDER, path, value)

    response = anon.post(
        "/api/v1/orders", data=json.dumps(body), content_type="application/json", **auth
    )

    assert response.status_code == 400
    assert _dotted(path) in _error(response)["fields"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"marketplaces": ["\\ud800"]}', "marketplaces[0]"),
        ('{"marketplaces": ["ebay\\u0000"]}', "marketplaces[0]"),
        ('{"min\\u0000stock": 3}', "min?stock"),
        ('{"min_stock": 1e999}', "min_stock"),
        ('{"min_stock": -1e999}', "min_stock"),
    ],
)
def test_api_json_that_cannot_be_stored_is_400_naming_the_field(anon, key_user, raw, field):
    _, auth = key_user

    response = anon.patch("/api/v1/me", data=raw, content_type="application/json", **auth)

    assert response.status_code == 400
    assert field in _error(response)["fields"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"min_stock": NaN}',
        '{"min_stock": Infinity}',
        '{"min_stock": ' + "9" * 5000 + "}",
        "[" * (MAX_JSON_DEPTH + 2) + "]" * (MAX_JSON_DEPTH + 2),
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "\xff\xfe not utf-8",
        "{",
    ],
)
def test_api_json_that_is_not_json_or_too_deep_is_400(anon, key_user, raw):
    _, auth = key_user

    response = anon.patch(
        "/api/v1/me", data=raw.encode("latin-1"), content_type="application/json", **auth
    )

    assert response.status_code == 400
    assert _error(response)["code"] in {"parse_error", "invalid"}


@pytest.mark.parametrize("value", [32768, 10**20, 2**63, -(2**63) - 1, "99999999999999999999"])
def test_api_min_stock_that_overflows_its_column_is_400(anon, key_user, value):
    user, auth = key_user

    response = anon.patch(
        "/api/v1/me", data=json.dumps({"min_stock": value}), content_type="application/json", **auth
    )

    assert response.status_code == 400
    assert "min_stock" in _error(response)["fields"]
    user.affiliate.refresh_from_db()
    assert user.affiliate.min_stock == 3


@given(
    field=st.sampled_from(["qty", "line"]),
    value=st.one_of(
        st.integers(min_value=2**31, max_value=2**200),
        st.integers(max_value=-(2**31)),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
        st.none(),
        st.booleans(),
    ),
)
@HYPOTHESIS
def test_api_numbers_of_any_size_and_wrong_types_never_500(anon, key_user, field, value):
    _, auth = key_user
    if field == "qty":
        body = _with(ORDER, ("lines", 0, "qty"), value)
        response = anon.post(
            "/api/v1/orders", data=json.dumps(body), content_type="application/json", **auth
        )
    else:
        response = anon.post(
            "/api/v1/orders/1/special-order",
            data=json.dumps({"line": value}),
            content_type="application/json",
            **auth,
        )

    assert response.status_code in {400, 404}
    _error(response)


def test_api_idempotency_key_with_a_bad_character_is_400_naming_it(anon, key_user):
    _, auth = key_user

    response = anon.post(
        "/api/v1/orders",
        data=json.dumps(ORDER),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key\x00one",
        **auth,
    )

    assert response.status_code == 400
    assert "Idempotency-Key" in _error(response)["fields"]
    # The orders API's own code, not the request-head check's "invalid".
    assert _error(response)["code"] == "idempotency_key_invalid"


def test_api_form_and_multipart_fields_with_a_bad_character_are_400(anon, key_user):
    _, auth = key_user

    form = anon.patch(
        "/api/v1/me",
        data="min_stock=3&marketplaces=eb%00ay",
        content_type="application/x-www-form-urlencoded",
        **auth,
    )
    multipart = anon.post("/api/v1/claims", {"order": "1", "supplier_name": "A\x01B"}, **auth)

    assert form.status_code == 400
    assert "marketplaces" in _error(form)["fields"]
    assert multipart.status_code == 400
    assert "supplier_name" in _error(multipart)["fields"]


def test_invalid_characters_are_exactly_the_unstorable_and_control_ones():
    allowed = "\t\n\r abc ÄÖ € 漢字 😀 \u200b \ufffd"

    assert INVALID_CHARACTERS.search(allowed) is None
    for character in [*BAD_CHARACTERS, "\ud800", "\udfff"]:
        assert INVALID_CHARACTERS.search(f"a{character}b")


# --- The envelope is outermost: errors of every middleware are in it --------------------------


def test_api_envelope_is_the_outermost_middleware(settings):
    assert settings.MIDDLEWARE[0] == "sophio_fbs.api.ApiErrorEnvelopeMiddleware"


@pytest.mark.parametrize("ssl_redirect", [False, True])
def test_api_disallowed_host_is_a_json_400(anon, settings, ssl_redirect):
    """A Host not in ALLOWED_HOSTS is refused by SecurityMiddleware (when it redirects to HTTPS,
    it reads the host first) or CommonMiddleware: either answer is in the error shape. The one
    from CommonMiddleware keeps the headers SecurityMiddleware and CSP set on it; the one from
    SecurityMiddleware itself never passes through them (it was an HTML page before)."""
    settings.SECURE_SSL_REDIRECT = ssl_redirect

    response = anon.get("/api/v1/me", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert _error(response)["code"] == "bad_request"
    if not ssl_redirect:
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "default-src" in response["Content-Security-Policy"]


def test_api_https_redirect_is_not_rewritten(anon, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = anon.get("/api/v1/me")

    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_pages_disallowed_host_is_still_a_page(anon, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = anon.get("/login/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")

"""Pages under bad input and on errors (issue 11, items 17 and 19): no input gives a 500, a
character that may not be stored is a 400 page naming the field, and the 400/404/413/500 pages
are our own production pages, which work under the Content-Security-Policy."""

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from affiliates.views import LoginView
from tests.factories import PASSWORD, UserFactory
from tests.test_api_contract import BAD_CHARACTERS, bad_text

pytestmark = pytest.mark.django_db

HYPOTHESIS = hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Every page an affiliate opens, and the query parameters any of them reads.
PAGES = [
    "/",
    "/catalog/",
    "/catalog/feed.csv",
    "/orders/",
    "/orders/new",
    "/orders/upload",
    "/orders/fill-rate",
    "/claims/",
    "/claims/new",
    "/settings/",
    "/login/",
]
PARAMS = ["search", "line_code", "q", "status", "page", "line", "cursor", "next", "tab"]
INLINE = re.compile(r"<style|\sstyle=|<script(?![^>]*\ssrc=)|\son[a-z]+=", re.IGNORECASE)


@pytest.fixture
def affiliate_client(client):
    client.raise_request_exception = False
    client.force_login(UserFactory(affiliate__min_stock=3))
    return client


def _page(response) -> str:
    return (
        b"".join(response.streaming_content).decode()
        if response.streaming
        else (response.content.decode())
    )


# --- 17: no input gives a 500 ----------------------------------------------------------------


@given(path=st.sampled_from(PAGES), name=st.sampled_from(PARAMS), value=bad_text())
@HYPOTHESIS
def test_pages_query_string_with_a_bad_character_is_a_400_naming_it(
    affiliate_client, path, name, value
):
    response = affiliate_client.get(path, {name: value})

    assert response.status_code == 400
    assert f"<strong>{name}</strong>" in _page(response)


@given(
    path=st.sampled_from(PAGES),
    name=st.sampled_from(PARAMS),
    value=st.one_of(
        st.integers().map(str),
        st.integers(min_value=2**63).map(str),
        st.text(alphabet=st.characters(codec="utf-8", exclude_characters=BAD_CHARACTERS)),
        st.sampled_from(["-1", "0", "1e9999", "NaN", "%", "../", "' OR 1=1 --", "\ufffd"]),
    ),
)
@HYPOTHESIS
def test_pages_any_query_value_never_gives_a_500(affiliate_client, path, name, value):
    response = affiliate_client.get(path, {name: value})

    assert response.status_code < 500


@pytest.mark.parametrize(
    "path", ["/orders/99999999999999999999999/", "/catalog/99999999999999999999/", "/claims/0/"]
)
def test_pages_ids_that_overflow_are_404(affiliate_client, path):
    assert affiliate_client.get(path).status_code == 404


@given(
    field=st.sampled_from(["username", "password"]),
    value=bad_text(),
)
@HYPOTHESIS
def test_pages_login_field_with_a_bad_character_is_a_400_naming_it(anon_client, field, value):
    form = {"username": "someone", "password": "secret", field: value}

    response = anon_client.post("/login/", form)

    assert response.status_code == 400
    assert f"<strong>{field}</strong>" in _page(response)


@pytest.fixture
def anon_client(client):
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        (
            "/settings/account",
            {"account-name": "A\x00B", "account-contact_email": "a@example.com"},
            "account-name",
        ),
        ("/orders/new", {"marketplace_order_id": "M\x1b1"}, "marketplace_order_id"),
        ("/claims/new", {"line": "1", "supplier_name": "x\x00"}, "supplier_name"),
    ],
)
def test_pages_form_field_with_a_bad_character_is_a_400_naming_it(
    affiliate_client, path, form, field
):
    urlencoded = affiliate_client.post(path, form)

    assert urlencoded.status_code == 400
    assert f"<strong>{field}</strong>" in _page(urlencoded)


@pytest.mark.parametrize("value", ["32768", "99999999999999999999999", "1e5", "-5"])
def test_pages_min_stock_that_overflows_is_a_form_error_not_a_500(affiliate_client, value):
    response = affiliate_client.post(
        "/settings/account",
        {
            "account-name": "Parts Co",
            "account-contact_email": "a@example.com",
            "account-min_stock": value,
        },
    )

    assert response.status_code in {200, 400}
    assert "Min stock must be" in _page(response)


def test_pages_body_over_the_limit_is_a_413_page(anon_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = anon_client.post(
        "/login/", "username=" + "x" * 2000, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 413
    assert "too large" in _page(response)


# --- 19: production error pages and a favicon -------------------------------------------------


def test_pages_404_is_our_page_and_works_under_the_policy(affiliate_client, settings):
    settings.DEBUG = False

    response = affiliate_client.get("/no/such/page/")

    page = _page(response)
    assert response.status_code == 404
    assert "Page not found" in page
    assert "Go to the dashboard" in page
    assert not INLINE.search(page)
    assert 'rel="icon"' in page


def test_pages_500_is_our_page_with_nothing_inside_and_works_under_the_policy(
    anon_client, settings, monkeypatch
):
    settings.DEBUG = False

    def broken(self, request, *args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(LoginView, "get", broken)

    response = anon_client.get("/login/")

    page = _page(response)
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    assert "secret" not in page
    assert "Traceback" not in page
    assert not INLINE.search(page)
    assert 'rel="icon"' in page
    assert "default-src" in response["Content-Security-Policy"]


@pytest.mark.parametrize("template", ["400.html", "403.html", "404.html", "413.html", "500.html"])
def test_pages_error_templates_have_no_inline_style_or_script(template):
    from django.template.loader import get_template

    source = Path(get_template(template).origin.name).read_text(encoding="utf-8")

    assert not INLINE.search(source)


def test_pages_favicon_is_a_static_file_linked_from_every_page_and_at_favicon_ico(anon_client):
    login = anon_client.get("/login/")

    response = anon_client.get("/favicon.ico")

    assert 'rel="icon"' in _page(login)
    assert response.status_code == 302
    assert response["Location"].endswith("favicon.ico")
    assert finders.find("favicon.ico")
    assert finders.find("favicon.svg")
    assert Path(finders.find("favicon.ico")).read_bytes()[:4] == b"\x00\x00\x01\x00"  # an ICO


def test_pages_logged_in_login_still_works(client):
    user = UserFactory()

    response = client.post("/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302


def test_pages_csrf_refusal_is_our_page(settings):
    from django.test import Client

    settings.DEBUG = False
    client = Client(enforce_csrf_checks=True)

    response = client.post("/login/", {"username": "a", "password": "b"})

    page = _page(response)
    assert response.status_code == 403
    assert "This form can no longer be sent" in page
    assert not INLINE.search(page)

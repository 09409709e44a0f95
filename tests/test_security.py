"""Tenant isolation, anonymous access, CSRF, headers and secrets, swept over every URL pattern.

The sweep reads the URL configuration itself: a new URL that takes an object id fails here until
this file says whose object to try it with, so no page or endpoint escapes the check."""

import logging
from datetime import date

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from affiliates.services import api_key_create, payment_method_add_card
from claims.models import ClaimMessage
from claims.services import claim_file
from inventory.models import Item
from tests.factories import PASSWORD, CardFactory, UserFactory, import_feed
from tests.test_claims_helpers import png_bytes, use_private_storage, voided_line

pytestmark = pytest.mark.django_db

# URLs anyone may open.
# The favicon is a redirect to a static file, which anyone may fetch.
PUBLIC = {"login", "logout", "api:schema", "api:docs", "favicon"}


def url_patterns():
    """(name, pattern) for every URL outside admin."""

    def walk(patterns, namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name == "admin":
                    continue
                yield from walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), pattern

    return list(walk(get_resolver().url_patterns))


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    use_private_storage(settings, tmp_path)


@pytest.fixture
def world():
    """Affiliate A (the one asking) and B (whose things A must never reach)."""
    b_user, b_order, b_line = voided_line(min_stock=3, number="B-SECRET-1")
    b_claim = claim_file(
        affiliate=b_user.affiliate,
        user=b_user,
        order_id=b_order.pk,
        line_id=b_line.pk,
        supplier_name="B's dealer",
        purchased_on=date.today(),  # noqa: DTZ011
        amount="25.00",
        receipt=SimpleUploadedFile("r.png", png_bytes(), "image/png"),
    )
    # A message of B's with a receipt of its own (as an answer to "needs information" has).
    b_message = ClaimMessage.objects.create(claim_id=b_claim.pk, author=b_user, body="New scan.")
    b_message.receipt.save("receipt.png", ContentFile(png_bytes()), save=False)
    b_message.receipt_content_type = "image/png"
    b_message.save()
    b_method = b_user.affiliate.payment_methods.first()
    b_key, _ = api_key_create(user=b_user, name="B key")
    # An item A may not see: 3 available, A's min stock is 5.
    import_feed("WH9", [("HID", "HIDDEN-1", 3, "1.00")])
    a_user = UserFactory(affiliate__min_stock=5)
    CardFactory(affiliate=a_user.affiliate)
    _, a_raw = api_key_create(user=a_user, name="A key")
    return {
        "a": a_user,
        "a_key": a_raw,
        "order": b_order.pk,
        "line": b_line.pk,
        "claim": b_claim.pk,
        "message": b_message.pk,
        "method": b_method.pk,
        "api_key": b_key.pk,
        "hidden_item": Item.objects.get(part_number="HIDDEN-1").pk,
    }


def object_kwargs(name: str, world) -> dict:
    """Whose object each URL is tried with: always one A must not reach."""
    if name in ("api:payment-method", "api:payment-method-default") or name.startswith(
        "affiliates:payment-method"
    ):
        return {"pk": world["method"]}
    if name == "affiliates:api-key-revoke":
        return {"pk": world["api_key"]}
    if name in ("api:catalog-item", "inventory:item"):
        return {"pk": world["hidden_item"]}
    if name.startswith(("orders:", "api:order")):
        return {"pk": world["order"], "line_id": world["line"]}
    if name.startswith(("claims:", "api:claim")):
        return {"pk": world["claim"], "message_id": world["message"]}
    return {}


def test_every_url_with_an_id_is_covered_by_the_sweep(world):
    uncovered = [
        name
        for name, pattern in url_patterns()
        if pattern.pattern.converters and not object_kwargs(name, world)
    ]
    assert uncovered == []


def test_another_affiliates_objects_are_404_on_every_url(world):
    page = Client()
    page.force_login(world["a"])
    api = Client(headers={"authorization": f"Bearer {world['a_key']}"})
    checked = 0
    for name, pattern in url_patterns():
        if not pattern.pattern.converters:
            continue
        kwargs = {
            k: v for k, v in object_kwargs(name, world).items() if k in pattern.pattern.converters
        }
        url = reverse(name, kwargs=kwargs)
        client = api if name.startswith("api:") else page
        for method in ("get", "post", "delete"):
            response = getattr(client, method)(url)
            assert response.status_code in (404, 405), (method, url, response.status_code)
            assert b"B-SECRET-1" not in response.content
            assert b"HIDDEN-1" not in response.content
            checked += 1
    assert checked >= 20


def test_nothing_of_b_changed_after_the_sweep(world):
    test_another_affiliates_objects_are_404_on_every_url(world)
    from affiliates.models import ApiKey, PaymentMethod
    from claims.models import Claim
    from orders.models import Order

    assert Order.objects.get(pk=world["order"]).status == "voided"
    assert PaymentMethod.objects.filter(pk=world["method"]).exists()
    assert ApiKey.objects.get(pk=world["api_key"]).revoked_at is None
    assert Claim.objects.filter(pk=world["claim"]).exists()


def test_anonymous_gets_the_login_page_or_401(world):
    anonymous = Client()
    for name, pattern in url_patterns():
        if name in PUBLIC:
            continue
        kwargs = {
            k: v for k, v in object_kwargs(name, world).items() if k in pattern.pattern.converters
        }
        url = reverse(name, kwargs=kwargs)
        for method in ("get", "post"):
            response = getattr(anonymous, method)(url)
            if name.startswith("api:"):
                assert response.status_code == 401, (method, url, response.status_code)
            else:
                assert response.status_code in (302, 405), (method, url, response.status_code)
                if response.status_code == 302:
                    assert response.url.startswith(reverse("login")), url


def test_csrf_is_enforced_on_every_form_post(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["a"])
    posted = 0
    for name, pattern in url_patterns():
        if name in PUBLIC - {"logout"}:
            continue
        kwargs = {
            k: v for k, v in object_kwargs(name, world).items() if k in pattern.pattern.converters
        }
        response = client.post(reverse(name, kwargs=kwargs), {"anything": "1"})
        if response.status_code == 405:
            continue
        assert response.status_code == 403, (name, response.status_code)
        posted += 1
    assert posted >= 15


def test_security_headers_under_production_settings(settings, world):
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    client = Client()
    client.force_login(world["a"])

    plain = client.get("/catalog/")
    response = client.get("/catalog/", secure=True)

    assert plain.status_code == 301  # to https
    assert response.status_code == 200
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_secrets_in_logs_or_responses(client, caplog, api_client):
    user = UserFactory()  # factory_boy logs its own arguments at DEBUG: made before capturing
    caplog.set_level(logging.DEBUG)
    number = "4000000000000002"
    client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    client.post(reverse("affiliates:card-add"), {"card-number": number, "card-expiry": "12/39"})
    method = payment_method_add_card(
        affiliate=user.affiliate, number="4242424242424242", exp_month=12, exp_year=2039
    )
    key, raw = api_key_create(user=user, name="k")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}x")  # a wrong key gets logged 401
    api_client.get("/api/v1/me")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    listing = api_client.get("/api/v1/payment-methods")
    page = client.get(reverse("affiliates:settings"))

    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (number, "4242424242424242", raw, PASSWORD, method.gateway_token):
        assert secret not in logged
    for body in (listing.content.decode(), page.content.decode()):
        assert method.gateway_token not in body
        assert raw not in body
        assert key.key_hash not in body

import pytest

from affiliates.models import ApiKey, PaymentMethod
from affiliates.services import api_key_create, api_key_revoke
from tests.factories import AffiliateFactory, CardFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def keyed(api_client):
    user = UserFactory(affiliate__min_stock=3)
    _, raw = api_key_create(user=user, name="tests")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return user


def test_me_with_a_key_answers_who_and_min_stock(api_client, keyed):
    CardFactory(affiliate=keyed.affiliate)

    response = api_client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json() == {
        "username": keyed.username,
        "affiliate": keyed.affiliate.name,
        "min_stock": 3,
        "marketplaces": ["ebay"],
        "has_valid_payment_method": True,
    }


def test_me_without_valid_payment_method_says_so(api_client, keyed):
    CardFactory(affiliate=keyed.affiliate, exp_year=2020)

    assert api_client.get("/api/v1/me").json()["has_valid_payment_method"] is False


def test_api_without_key_is_401_with_error_shape(api_client):
    response = api_client.get("/api/v1/me")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "not_authenticated"


def test_api_revoked_key_is_401(api_client):
    user = UserFactory()
    key, raw = api_key_create(user=user, name="old")
    api_key_revoke(affiliate=user.affiliate, api_key_id=key.pk)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = api_client.get("/api/v1/me")

    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_api_key_stored_value_is_not_the_key():
    user = UserFactory()

    key, raw = api_key_create(user=user, name="k")

    row = ApiKey.objects.values().get(pk=key.pk)
    assert raw not in [str(v) for v in row.values()]


def test_api_staff_session_is_refused(client):
    client.force_login(UserFactory(affiliate=None, is_staff=True))

    assert client.get("/api/v1/me").status_code == 403


@pytest.mark.parametrize("value", [1, 0, "two"])
def test_api_min_stock_below_two_is_400_and_nothing_saved(api_client, keyed, value):
    response = api_client.patch("/api/v1/me", {"min_stock": value}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["min_stock"]
    keyed.affiliate.refresh_from_db()
    assert keyed.affiliate.min_stock == 3


def test_api_min_stock_update(api_client, keyed):
    response = api_client.patch("/api/v1/me", {"min_stock": 5}, format="json")

    assert response.status_code == 200
    assert response.json()["min_stock"] == 5


@pytest.mark.parametrize(
    ("number", "expiry", "status", "code"),
    [
        ("4242424242424241", "12/39", 400, "card_invalid"),
        ("4242424242424242", "01/20", 400, "card_expired"),
        ("4000000000000002", "12/39", 402, "card_declined"),
        ("4242424242424242", "1339", 400, "expiry_invalid"),
    ],
)
def test_api_bad_card_is_an_error_and_nothing_saved(
    api_client, keyed, number, expiry, status, code
):
    response = api_client.post(
        "/api/v1/payment-methods",
        {"kind": "card", "number": number, "expiry": expiry},
        format="json",
    )

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert number not in response.content.decode()
    assert not PaymentMethod.objects.exists()


def test_api_add_card_and_list_never_returns_token(api_client, keyed):
    created = api_client.post(
        "/api/v1/payment-methods",
        {"kind": "card", "number": "4242 4242 4242 4242", "expiry": "12/39"},
        format="json",
    )
    listing = api_client.get("/api/v1/payment-methods")

    assert created.status_code == 201
    assert created.json()["last4"] == "4242"
    assert created.json()["is_default"] is True
    assert "tok_" not in listing.content.decode()
    assert len(listing.json()) == 1


def test_api_another_affiliates_payment_method_is_404(api_client, keyed):
    theirs = CardFactory(affiliate=AffiliateFactory())

    assert api_client.delete(f"/api/v1/payment-methods/{theirs.pk}").status_code == 404
    assert api_client.post(f"/api/v1/payment-methods/{theirs.pk}/default").status_code == 404
    assert PaymentMethod.objects.filter(pk=theirs.pk).exists()


def test_api_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema")
    docs = client.get("/api/v1/docs")

    assert schema.status_code == 200
    assert b"/api/v1/me" in schema.content
    assert docs.status_code == 200


def test_api_throttles_a_flood_from_one_user(api_client, keyed, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})

    statuses = [api_client.get("/api/v1/me").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert api_client.get("/api/v1/me").json()["error"]["code"] == "throttled"

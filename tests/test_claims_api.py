"""The claims API: the 201 answer, refusals in the API's error shape, and isolation (another
affiliate's order or claim is a 404)."""

import pytest
from django.utils import timezone

from claims.models import Claim
from tests.factories import make_api_key
from tests.test_claims_helpers import (
    file_claim,
    make_user,
    place,
    png_bytes,
    release,
    stock,
    stored_files,
    upload,
    use_private_storage,
    void_lines,
    voided_line,
)

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


def as_user(api_client, user):
    _, raw = make_api_key(user, raw=f"fbs_test-key-{user.pk:04d}-0123456789")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_client


def body(order, line=None, **overrides):
    data = {
        "order": order.pk,
        "supplier_name": "Main St Dealer",
        "purchased_on": timezone.localdate().isoformat(),
        "amount": "60.00",
        "receipt": upload(),
    }
    if line is not None:
        data["line"] = line.pk
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_api_claims_create_answers_201_with_status_and_reasons(api_client):
    user, order, line = voided_line(min_stock=2)

    response = as_user(api_client, user).post(
        "/api/v1/claims", body(order, line), format="multipart"
    )

    assert response.status_code == 201
    data = response.json()
    claim = Claim.objects.get()
    assert data["id"] == claim.pk
    assert data["status"] == "in_review"
    assert data["auto_approved"] is False
    assert data["reasons"] == [{"code": "min_stock_below_3", "text": claim.reasons[0]["text"]}]
    assert data["order"] == order.pk
    assert data["line"] == line.pk
    assert data["amount"] == "60.00"
    assert data["receipt"]["content_type"] == "image/png"
    assert data["due_at"]


def test_api_claims_create_eligible_is_approved_and_line_may_be_left_out(api_client):
    user, order, _ = voided_line()

    response = as_user(api_client, user).post("/api/v1/claims", body(order), format="multipart")

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["auto_approved"]) == ("approved", True)
    assert response.json()["reasons"] == []
    assert response.json()["approved_amount"] == "60.00"


def test_api_claims_create_without_receipt_as_json_is_reviewed(api_client):
    user, order, line = voided_line()

    response = as_user(api_client, user).post(
        "/api/v1/claims", body(order, line, receipt=None), format="json"
    )

    assert response.status_code == 201
    assert [r["code"] for r in response.json()["reasons"]] == ["no_receipt"]
    assert response.json()["receipt"] is None


def test_api_claims_create_refused_receipt_has_the_error_shape_and_keeps_nothing(
    api_client, private_storage
):
    user, order, line = voided_line()

    response = as_user(api_client, user).post(
        "/api/v1/claims",
        body(order, line, receipt=upload("receipt.png", png_bytes() + b"<html><script>")),
        format="multipart",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "receipt_active_content"
    assert "script code" in error["message"]
    assert error["fields"] == {"receipt": [error["message"]]}
    assert not Claim.objects.exists()
    assert stored_files(private_storage) == []


def test_api_claims_create_shape_errors_name_their_fields(api_client):
    user, order, line = voided_line()

    response = as_user(api_client, user).post(
        "/api/v1/claims", body(order, line, amount="1.234", purchased_on="yesterday"),
        format="multipart",
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert set(response.json()["error"]["fields"]) == {"amount", "purchased_on"}


def test_api_claims_create_several_voided_lines_need_the_line(api_client):
    stock()
    user = make_user()
    order = void_lines(release(place(user, "P1", "P2")))

    response = as_user(api_client, user).post("/api/v1/claims", body(order), format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["line"] == [
        f"{order.number} has 2 voided lines: say which one the claim is for."
    ]


def test_api_claims_create_second_claim_for_a_line_is_409(api_client):
    user, order, line = voided_line()
    file_claim(user, line)

    response = as_user(api_client, user).post(
        "/api/v1/claims", body(order, line), format="multipart"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "claim_exists"


def test_api_claims_another_affiliates_order_and_claim_are_404(api_client):
    owner, order, line = voided_line()
    claim = file_claim(owner, line)
    client = as_user(api_client, make_user())

    created = client.post("/api/v1/claims", body(order, line), format="multipart")
    assert created.status_code == 404
    assert created.json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/claims/{claim.pk}").status_code == 404
    assert client.get("/api/v1/claims").json() == {"results": [], "next_cursor": None}
    assert Claim.objects.count() == 1


def test_api_claims_retrieve_and_list_pages(api_client):
    user, _order, line = voided_line()
    first = file_claim(user, line)
    _, _, line2 = voided_line(user=user, number="M-2")
    second = file_claim(user, line2)
    client = as_user(api_client, user)

    assert client.get(f"/api/v1/claims/{first.pk}").json()["number"] == first.number
    page = client.get("/api/v1/claims?limit=1").json()
    assert [c["id"] for c in page["results"]] == [second.pk]
    page = client.get(f"/api/v1/claims?limit=1&cursor={page['next_cursor']}").json()
    assert [c["id"] for c in page["results"]] == [first.pk]
    assert page["next_cursor"] is None
    assert client.get("/api/v1/claims?status=nope").status_code == 400


def test_api_claims_need_an_affiliate_key(api_client):
    assert api_client.get("/api/v1/claims").status_code in (401, 403)

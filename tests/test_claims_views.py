"""The Claims pages and the receipt download: wiring, errors on the form, and who may see what
(another affiliate's claim, line or receipt is a 404)."""

import pytest
from django.utils import timezone

from claims import services
from claims.models import Claim
from orders import services as order_services
from tests.factories import StaffFactory
from tests.test_claims_helpers import (
    file_claim,
    make_user,
    pdf_bytes,
    place,
    png_bytes,
    stock,
    stored_files,
    upload,
    use_private_storage,
    voided_line,
)

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


def post_claim(client, line, **overrides):
    data = {
        "line": line.pk,
        "supplier_name": "Main St Dealer",
        "purchased_on": timezone.localdate().isoformat(),
        "amount": "45.00",
        "receipt": upload(),
    }
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(f"/claims/new?line={line.pk}", data)


# --- Filing ---------------------------------------------------------------------------------------


def test_claims_list_offers_the_voided_lines_to_claim(client):
    user, order, line = voided_line()
    client.force_login(user)

    page = client.get("/claims/")

    assert page.status_code == 200
    assert f'href="/claims/new?line={line.pk}"' in page.content.decode()
    assert order.number in page.content.decode()


def test_claim_new_without_a_line_lists_the_lines_to_choose_from(client):
    user, _, line = voided_line()
    client.force_login(user)

    page = client.get("/claims/new")

    assert page.status_code == 200
    assert f'data-claimable-line="{line.pk}"' in page.content.decode()


def test_claim_new_page_says_what_will_happen(client):
    user, order, line = voided_line(min_stock=2)
    client.force_login(user)

    page = client.get(f"/claims/new?line={line.pk}").content.decode()

    assert "will be <strong>reviewed</strong>" in page
    assert f"Your min stock was 2 when {order.number} was placed" in page


def test_claim_new_files_an_eligible_claim_and_shows_it_approved(client):
    user, _, line = voided_line()
    client.force_login(user)

    response = post_claim(client, line, amount="45.00")

    claim = Claim.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/claims/{claim.pk}/"
    assert claim.status == Claim.Status.APPROVED
    page = client.get(response["Location"]).content.decode()
    assert "Approved: $45.00" in page
    assert "is approved: $45.00 is credited" in page


def test_claim_new_refused_receipt_is_shown_on_the_field_and_nothing_is_kept(
    client, private_storage
):
    user, _, line = voided_line()
    client.force_login(user)

    response = post_claim(client, line, receipt=upload("receipt.png", png_bytes() + b"<script>"))

    assert response.status_code == 400
    assert "script code" in response.content.decode()
    assert "is-invalid" in response.content.decode()
    assert not Claim.objects.exists()
    assert stored_files(private_storage) == []


def test_claim_new_future_date_is_refused_on_its_field(client):
    user, _, line = voided_line()
    client.force_login(user)

    response = post_claim(
        client, line, purchased_on=(timezone.localdate() + timezone.timedelta(days=2)).isoformat()
    )

    assert response.status_code == 400
    assert "cannot be in the future" in response.content.decode()


def test_claim_new_for_a_cancelled_line_explains_why_not(client):
    stock()
    user = make_user()
    order = place(user, "P1")
    order_services.order_cancel_request(order=order, user=user)
    client.force_login(user)

    response = client.get(f"/claims/new?line={order.lines.get().pk}")

    assert response.status_code == 409
    assert "was cancelled" in response.content.decode()


def test_claim_new_for_a_line_with_a_claim_goes_to_that_claim(client):
    user, _, line = voided_line()
    claim = file_claim(user, line)
    client.force_login(user)

    response = client.get(f"/claims/new?line={line.pk}")

    assert response.status_code == 302
    assert response["Location"] == f"/claims/{claim.pk}/"


def test_claim_new_upload_over_the_limit_is_refused_before_it_is_read(client):
    user, _, line = voided_line()
    client.force_login(user)

    response = client.post(
        f"/claims/new?line={line.pk}",
        data=b"x",
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(11 * 1024 * 1024),
    )

    assert response.status_code == 302
    assert not Claim.objects.exists()


# --- Another affiliate's things do not exist ------------------------------------------------------


def test_another_affiliates_line_claim_and_receipt_are_404(client):
    owner, _, line = voided_line()
    claim = file_claim(owner, line)
    stranger = make_user()
    client.force_login(stranger)

    assert client.get(f"/claims/new?line={line.pk}").status_code == 404
    assert post_claim(client, line).status_code == 404
    assert client.get(f"/claims/{claim.pk}/").status_code == 404
    assert client.get(f"/claims/{claim.pk}/receipt").status_code == 404
    assert client.post(f"/claims/{claim.pk}/messages", {"body": "hi"}).status_code == 404
    assert claim.number not in client.get("/claims/").content.decode()
    assert Claim.objects.count() == 1


def test_claim_pages_need_a_login(client):
    owner, _, line = voided_line()
    claim = file_claim(owner, line)

    for url in ("/claims/", f"/claims/{claim.pk}/", f"/claims/{claim.pk}/receipt"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


# --- The receipt download -------------------------------------------------------------------------


def test_receipt_download_for_the_owner_is_an_attachment_with_the_stored_type(client):
    user, _, line = voided_line()
    data = pdf_bytes()
    claim = file_claim(user, line, receipt=upload("receipt.pdf", data, "text/html"))
    client.force_login(user)

    response = client.get(f"/claims/{claim.pk}/receipt")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{claim.number}-receipt.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_receipt_download_for_staff_who_may_see_claims_only(client):
    user, _, line = voided_line()
    claim = file_claim(user, line)

    client.force_login(StaffFactory(group="Support"))
    assert client.get(f"/claims/{claim.pk}/receipt").status_code == 200
    client.force_login(StaffFactory(group="Finance"))
    assert client.get(f"/claims/{claim.pk}/receipt").status_code == 200
    client.force_login(StaffFactory())  # staff, but no claims permission
    assert client.get(f"/claims/{claim.pk}/receipt").status_code == 404


def test_receipt_download_of_a_claim_without_receipt_is_404(client):
    user, _, line = voided_line()
    claim = file_claim(user, line, receipt=None)
    client.force_login(user)

    assert client.get(f"/claims/{claim.pk}/receipt").status_code == 404


# --- Messages -------------------------------------------------------------------------------------


def test_claim_reply_answers_a_request_for_information_and_goes_back_to_review(client):
    user, _, line = voided_line(min_stock=2)
    claim = file_claim(user, line, receipt=None)
    services.claim_request_info(claim_id=claim.pk, user=StaffFactory(), message="Send the receipt")
    client.force_login(user)
    page = client.get(f"/claims/{claim.pk}/").content.decode()
    assert "FBS needs more information" in page
    assert "Send the receipt" in page

    response = client.post(
        f"/claims/{claim.pk}/messages",
        {"body": "Here it is.", "receipt": upload("dealer.jpg", None)},
    )

    assert response.status_code == 400  # a PNG named .jpg
    assert "Rename it" in response.content.decode()
    response = client.post(
        f"/claims/{claim.pk}/messages", {"body": "Here it is.", "receipt": upload("dealer.png")}
    )
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == Claim.Status.IN_REVIEW
    assert claim.receipt_name == "dealer.png"
    assert [m.from_staff for m in claim.messages.all()] == [True, False]


def test_claim_reply_on_a_decided_claim_is_refused(client):
    user, _, line = voided_line()
    claim = file_claim(user, line)  # approved at once
    client.force_login(user)

    response = client.post(f"/claims/{claim.pk}/messages", {"body": "thanks"}, follow=True)

    assert "takes no more messages" in response.content.decode()
    assert not claim.messages.exists()

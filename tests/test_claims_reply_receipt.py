"""A claim in "needs information" takes a new receipt with the answer: checked like the first
(the same receipt checks: a bad one is refused on its field and nothing is kept), kept with the
answer while the first stays on the claim, and served only to the claim's affiliate and to staff
who may see claims."""

import pytest
from django.urls import reverse

from claims import services
from claims.errors import ClaimRefusedError, ReceiptRefusedError
from claims.models import Claim, ClaimMessage
from tests.factories import StaffFactory
from tests.test_claims_helpers import (
    file_claim,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
    stored_files,
    upload,
    use_private_storage,
    voided_line,
)

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


def waiting_claim(number: str = "M-1", **kwargs):
    user, _, line = voided_line(min_stock=2, number=number, **kwargs)
    claim = file_claim(user, line, amount="58.40")
    services.claim_request_info(claim_id=claim.pk, user=StaffFactory(), message="Blurred.")
    return user, Claim.objects.get(pk=claim.pk)


def reply(user, claim, receipt, body="A better scan."):
    return services.claim_reply(
        affiliate=user.affiliate, claim_id=claim.pk, user=user, body=body, receipt=receipt
    )


def test_claim_reply_with_a_new_receipt_keeps_both_and_goes_back_to_review(private_storage):
    user, claim = waiting_claim()
    first = claim.receipt.name
    data = jpeg_bytes(size=(90, 60))

    reply(user, claim, upload("clear.jpg", data, "image/jpeg"))

    claim.refresh_from_db()
    message = ClaimMessage.objects.get(claim=claim, from_staff=False)
    assert claim.status == Claim.Status.IN_REVIEW
    assert claim.receipt.name == first
    assert (message.receipt_name, message.receipt_content_type) == ("clear.jpg", "image/jpeg")
    assert message.receipt.name.endswith(".jpg")
    assert message.receipt.name != first
    assert "(Receipt attached: clear.jpg)" in message.body
    assert len(stored_files(private_storage)) == 2


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (png_bytes() + b"<script>alert(1)</script>", "scan.png"),
        (pdf_bytes(javascript="app.alert(1)"), "invoice.pdf"),
        (png_bytes(), "invoice.pdf"),  # named as what it is not
        (b"<html><body>hi</body></html>", "scan.png"),
    ],
    ids=["png-script", "pdf-javascript", "type-mismatch", "html"],
)
def test_claim_reply_new_receipt_is_checked_like_the_first(data, name, private_storage):
    user, claim = waiting_claim()
    before = stored_files(private_storage)

    with pytest.raises(ReceiptRefusedError) as caught:
        reply(user, claim, upload(name, data))

    assert caught.value.field == "receipt"
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.NEEDS_INFO
    assert not ClaimMessage.objects.filter(claim=claim, from_staff=False).exists()
    assert stored_files(private_storage) == before


def test_claim_reply_new_receipt_only_when_information_was_asked():
    user, _, line = voided_line(min_stock=2)
    claim = file_claim(user, line)  # in review, with a receipt

    with pytest.raises(ClaimRefusedError, match="when the reviewer asks for more information"):
        reply(user, claim, upload())


def test_claim_reply_new_receipt_sent_before_for_another_claim_is_marked_duplicate():
    user, first_claim = waiting_claim()
    other_user, claim = waiting_claim(number="M-2")
    data = png_bytes(color=(1, 2, 3))
    reply(user, first_claim, upload("same.png", data))

    reply(other_user, claim, upload("same.png", data))

    assert Claim.objects.get(pk=claim.pk).duplicate_of_id == first_claim.pk


def test_message_receipt_is_served_to_the_owner_and_staff_only(client):
    user, claim = waiting_claim()
    data = png_bytes(color=(9, 9, 9))
    reply(user, claim, upload("clear.png", data))
    message = ClaimMessage.objects.get(claim=claim, from_staff=False)
    url = reverse("claims:message-receipt", args=[claim.pk, message.pk])

    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/png"
    assert "attachment" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    # the claim page links it, and the admin claim page too
    assert url in client.get(reverse("claims:detail", args=[claim.pk])).content.decode()

    other, _, _ = voided_line(number="M-9")
    client.force_login(other)
    assert client.get(url).status_code == 404
    client.force_login(StaffFactory(group="Support"))
    assert client.get(url).status_code == 200
    assert url in client.get(f"/admin/claims/claim/{claim.pk}/change/").content.decode()
    # the message under another claim's number is no receipt
    assert (
        client.get(
            reverse("claims:message-receipt", args=[claim.pk + 1000, message.pk])
        ).status_code
        == 404
    )
    client.force_login(StaffFactory())  # staff without the claims permission
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_claim_page_offers_a_new_receipt_only_while_information_is_asked(client):
    user, claim = waiting_claim()
    client.force_login(user)

    asked = client.get(reverse("claims:detail", args=[claim.pk])).content.decode()
    reply(user, claim, None, body="Sent by post.")
    in_review = client.get(reverse("claims:detail", args=[claim.pk])).content.decode()

    assert "New receipt (optional)" in asked
    assert 'name="receipt"' not in in_review


def test_claim_file_with_a_receipt_sent_before_in_a_reply_is_marked_duplicate_not_approved():
    # given: claim A (over $100, so in review) waits for information; its affiliate answers
    # with receipt R, kept on the answer
    user, _, first_line = voided_line(min_stock=3, number="M-1")
    first_claim = file_claim(user, first_line, amount="150.00")
    services.claim_request_info(claim_id=first_claim.pk, user=StaffFactory(), message="Blurred.")
    data = png_bytes(color=(4, 5, 6))
    reply(user, first_claim, upload("same.png", data))
    # and another voided line of the same affiliate, which would be approved at filing:
    # min stock 3, a card on file, at most $100
    _, _, line = voided_line(user=user, number="M-2")

    # when: claim B is filed with the same R
    claim = file_claim(user, line, amount="40.00", receipt=upload("same.png", data))

    # then: B is a duplicate of A, in review, with no credit
    claim.refresh_from_db()
    assert claim.duplicate_of_id == first_claim.pk
    assert claim.status == Claim.Status.IN_REVIEW
    assert not claim.auto_approved
    assert claim.credit_id is None
    assert "duplicate_receipt" in [reason["code"] for reason in claim.reasons]

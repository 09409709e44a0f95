"""Payout confirmation shows exactly what will be paid (approved amounts, count, per affiliate)
and pays exactly that: the confirmation carries the fingerprint of the claims it showed, and a
claim approved, paid or changed between showing and confirming refuses the payout, which is then
shown again as it is now."""

from decimal import Decimal

import pytest

from claims import selectors, services
from claims.errors import ClaimPayoutChangedError
from claims.models import Claim, PayoutBatch
from tests.factories import StaffFactory
from tests.test_claims_helpers import file_claim, use_private_storage, voided_line

pytestmark = [pytest.mark.django_db]

LIST = "/admin/claims/claim/"


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


@pytest.fixture
def finance(client):
    staff = StaffFactory(group="Finance", username="fay")
    client.force_login(staff)
    return staff


def in_review(amount: str, number: str, user=None) -> Claim:
    user, _, line = voided_line(min_stock=2, number=number, user=user)
    return file_claim(user, line, amount=amount)


def approved(amount: str, number: str, *, user=None, approve: str | None = None) -> Claim:
    claim = in_review(amount, number, user=user)
    note = "Part of it only." if approve else ""
    return services.claim_approve(claim_id=claim.pk, user=StaffFactory(), amount=approve, note=note)


def confirm_page(client, *claims):
    return client.post(
        LIST, {"action": "mark_paid", "_selected_action": [c.pk for c in claims], "index": 0}
    )


def confirm(client, page, *claims, note="ACH 77"):
    return client.post(
        LIST,
        {
            "action": "mark_paid",
            "_selected_action": [c.pk for c in claims],
            "apply": "1",
            "note": note,
            "fingerprint": page.context["preview"].fingerprint,
        },
        follow=True,
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def three_claims():
    """Two affiliates: one with two approved claims (one approved for less than claimed), the
    other with one approved claim; and one claim still in review."""
    a1 = approved("30.00", "M-1")
    a2 = approved("80.00", "M-2", user=a1.filed_by, approve="45.00")
    b1 = approved("20.00", "M-3")
    pending = in_review("60.00", "M-4")
    return a1, a2, b1, pending


def test_payout_confirmation_shows_approved_amounts_count_and_totals_per_affiliate(
    client, finance, three_claims
):
    a1, a2, b1, pending = three_claims

    page = confirm_page(client, a1, a2, b1, pending)

    preview = page.context["preview"]
    assert preview.count == 3
    assert preview.total == Decimal("95.00")  # 30 + 45 approved (not 80 claimed) + 20
    rows = {str(row.affiliate): (row.count, row.total) for row in preview.by_affiliate}
    assert rows == {
        str(a1.affiliate): (2, Decimal("75.00")),
        str(b1.affiliate): (1, Decimal("20.00")),
    }
    text = page.content.decode()
    assert "<strong>3 claims</strong>" in text
    assert "<strong>$95.00</strong>" in text
    assert "Pay 3 claims, $95.00" in text
    assert f"{pending.number} (in review)" in text


def test_payout_confirming_pays_exactly_what_was_shown(client, finance, three_claims):
    a1, a2, b1, pending = three_claims
    page = confirm_page(client, a1, a2, b1, pending)

    done = confirm(client, page, a1, a2, b1, pending)

    batch = PayoutBatch.objects.get()
    assert (batch.claim_count, batch.total, batch.note) == (3, Decimal("95.00"), "ACH 77")
    assert set(batch.claims.values_list("pk", flat=True)) == {a1.pk, a2.pk, b1.pk}
    assert Claim.objects.get(pk=pending.pk).status == Claim.Status.IN_REVIEW
    assert any("3 claim(s), $95.00, marked paid" in m for m in messages_of(done))


def test_payout_a_claim_approved_between_showing_and_confirming_refuses_and_shows_again(
    client, finance, three_claims
):
    a1, a2, b1, pending = three_claims
    page = confirm_page(client, a1, a2, b1, pending)
    # meanwhile: Support approves the claim that was shown as not paid
    services.claim_approve(claim_id=pending.pk, user=StaffFactory(username="sam"))

    again = confirm(client, page, a1, a2, b1, pending)

    assert not PayoutBatch.objects.exists()
    assert Claim.objects.filter(status=Claim.Status.PAID).count() == 0
    text = again.content.decode()
    assert "nothing was paid" in text
    assert "Pay 4 claims, $155.00" in text  # shown again, as it is now
    # and the new confirmation pays the four
    confirm(client, again, a1, a2, b1, pending)
    assert PayoutBatch.objects.get().total == Decimal("155.00")


def test_payout_a_claim_paid_by_someone_else_meanwhile_refuses_and_pays_nothing(
    client, finance, three_claims
):
    a1, a2, b1, _ = three_claims
    page = confirm_page(client, a1, a2, b1)
    services.claims_mark_paid(claim_ids=[a2.pk], user=StaffFactory(username="frank"))

    again = confirm(client, page, a1, a2, b1)

    assert PayoutBatch.objects.count() == 1  # frank's only
    assert set(Claim.objects.filter(status="paid").values_list("pk", flat=True)) == {a2.pk}
    assert "nothing was paid" in again.content.decode()
    assert again.context["preview"].total == Decimal("50.00")


def test_payout_without_the_fingerprint_of_a_confirmation_pays_nothing(client, finance):
    claim = approved("30.00", "M-1")

    response = client.post(
        LIST,
        {"action": "mark_paid", "_selected_action": [claim.pk], "apply": "1", "note": ""},
    )

    assert response.status_code == 200
    assert not PayoutBatch.objects.exists()
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.APPROVED


def test_claims_mark_paid_with_a_stale_fingerprint_raises_and_pays_nothing():
    claim = approved("30.00", "M-1")
    other = in_review("40.00", "M-2")
    shown = selectors.payout_preview(claim_ids=[claim.pk, other.pk]).fingerprint
    services.claim_approve(claim_id=other.pk, user=StaffFactory())

    with pytest.raises(ClaimPayoutChangedError):
        services.claims_mark_paid(
            claim_ids=[claim.pk, other.pk], user=StaffFactory(), fingerprint=shown
        )

    assert not PayoutBatch.objects.exists()
    fresh = selectors.payout_preview(claim_ids=[claim.pk, other.pk]).fingerprint
    batch, _ = services.claims_mark_paid(
        claim_ids=[claim.pk, other.pk], user=StaffFactory(), fingerprint=fresh
    )
    assert batch.total == Decimal("70.00")

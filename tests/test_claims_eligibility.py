"""Filing and the rule for payment without review, on claims.services directly."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from affiliates.models import Affiliate
from claims import services
from claims.errors import ClaimExistsError, ClaimLineNotClaimableError, ClaimRefusedError
from claims.models import Claim
from orders import services as order_services
from orders.errors import LineCompensatedError
from orders.models import OrderLine
from payments.models import LedgerEntry
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


def codes(claim) -> list[str]:
    return [reason["code"] for reason in claim.reasons]


# --- The matrix -----------------------------------------------------------------------------------


def test_claim_file_every_condition_met_is_approved_at_once_with_its_credit(
    mailoutbox, django_capture_on_commit_callbacks
):
    user, order, line = voided_line(min_stock=3, card=True)

    with django_capture_on_commit_callbacks(execute=True):
        claim = file_claim(user, line, amount="84.50")

    assert claim.status == Claim.Status.APPROVED
    assert claim.auto_approved is True
    assert claim.reasons == []
    assert claim.approved_amount == Decimal("84.50")
    assert claim.decided_at is not None
    assert claim.decided_by is None
    credit = LedgerEntry.objects.get(idempotency_key=f"claim:{claim.pk}:credit")
    assert (credit.kind, credit.amount, credit.affiliate_id) == (
        "credit",
        Decimal("84.50"),
        user.affiliate_id,
    )
    assert claim.credit == credit
    assert [m.subject for m in mailoutbox] == [f"{claim.number} approved: $84.50"]
    assert mailoutbox[0].to == [user.affiliate.contact_email]
    assert order.events.filter(kind__in=["claim_filed", "claim_approved"]).count() == 2


@pytest.mark.parametrize(
    ("min_stock", "card", "amount", "with_receipt", "expected"),
    [
        (2, True, "40.00", True, ["min_stock_below_3"]),
        (3, False, "40.00", True, ["no_card_on_file"]),
        (3, True, "40.00", False, ["no_receipt"]),
        (3, True, "100.01", True, ["amount_over_limit"]),
        (
            2,
            False,
            "150.00",
            False,
            ["min_stock_below_3", "no_card_on_file", "no_receipt", "amount_over_limit"],
        ),
    ],
    ids=["min-stock-2", "no-card", "no-receipt", "over-limit", "all-four"],
)
def test_claim_file_each_unmet_condition_sends_it_to_review_and_is_listed(
    min_stock, card, amount, with_receipt, expected, mailoutbox
):
    user, _, line = voided_line(min_stock=min_stock, card=card)

    claim = file_claim(user, line, amount=amount, receipt="default" if with_receipt else None)

    assert claim.status == Claim.Status.IN_REVIEW
    assert claim.auto_approved is False
    assert codes(claim) == expected
    assert all(reason["text"] for reason in claim.reasons)
    assert claim.approved_amount is None
    assert not LedgerEntry.objects.filter(kind="credit").exists()


def test_claim_file_the_limit_itself_is_covered():
    user, _, line = voided_line()

    claim = file_claim(user, line, amount="100.00")

    assert claim.status == Claim.Status.APPROVED
    assert claim.approved_amount == Decimal("100.00")


def test_claim_file_limit_comes_from_the_setting(settings):
    settings.FBS_CLAIM_AUTO_APPROVE_LIMIT = Decimal("50.00")
    user, _, line = voided_line()

    claim = file_claim(user, line, amount="50.01")

    assert codes(claim) == ["amount_over_limit"]
    assert "$50.00" in claim.reasons[0]["text"]


def test_claim_file_min_stock_changed_after_the_order_does_not_matter():
    # given an order placed at min stock 3, then the affiliate lowers it to 2
    user, _, line = voided_line(min_stock=3)
    Affiliate.objects.filter(pk=user.affiliate_id).update(min_stock=2)
    # and another affiliate placed at 2 and raised it to 3 afterwards
    other, _, other_line = voided_line(min_stock=2, number="M-2")
    Affiliate.objects.filter(pk=other.affiliate_id).update(min_stock=3)

    assert file_claim(user, line).status == Claim.Status.APPROVED
    late = file_claim(other, other_line)
    assert late.status == Claim.Status.IN_REVIEW
    assert codes(late) == ["min_stock_below_3"]
    assert "was 2 when" in late.reasons[0]["text"]


def test_claim_file_card_removed_after_the_order_does_not_matter():
    user, _, line = voided_line(card=True)
    user.affiliate.payment_methods.all().delete()

    assert file_claim(user, line).status == Claim.Status.APPROVED


def test_claim_file_same_receipt_as_an_earlier_claim_is_flagged_and_reviewed():
    user, order, _ = voided_line()
    other, _, other_line = voided_line(number="M-2")
    same = png_bytes(color="gray")
    first = file_claim(user, order.lines.get(), receipt=upload("a.png", same))

    second = file_claim(other, other_line, receipt=upload("b.png", same))

    assert first.status == Claim.Status.APPROVED
    assert second.status == Claim.Status.IN_REVIEW
    assert second.duplicate_of == first
    assert codes(second) == ["duplicate_receipt"]
    assert second.receipt_sha256 == first.receipt_sha256


def test_claim_file_line_voided_through_real_fulfillment_is_claimable(settings):
    # given every warehouse misses: the line is voided by order_fulfill itself
    settings.FBS_SANDBOX_MISS_RATE = 1.0
    stock()
    user = make_user()
    order = release(place(user, "P1"))
    order_services.order_fulfill(order_id=order.pk)
    line = order.lines.get()
    assert line.status == OrderLine.Status.VOIDED

    assert file_claim(user, line).status == Claim.Status.APPROVED


def test_claim_file_special_order_line_is_compensated_by_it_and_not_claimable(private_storage):
    # A special order makes the line good (refund reversed, part shipped): not also a claim.
    user, order, line = voided_line()
    order_services.order_special_order_request(order=order, line_id=line.pk, user=user)

    with pytest.raises(LineCompensatedError, match="withdraw the special order first"):
        file_claim(user, line)
    assert not Claim.objects.exists()
    assert stored_files(private_storage) == []

    # once withdrawn, the line is voided and refunded again: claimable
    order_services.order_special_order_withdraw(order=order, line_id=line.pk, user=user)
    assert file_claim(user, line).status == Claim.Status.APPROVED


# --- Refusals -------------------------------------------------------------------------------------


def test_claim_file_a_line_the_affiliate_cancelled_is_refused_outright(private_storage):
    stock()
    user = make_user()
    order = place(user, "P1")
    order_services.order_cancel_request(order=order, user=user)
    line = order.lines.get()
    line.refresh_from_db()

    with pytest.raises(ClaimLineNotClaimableError, match="cancelled"):
        file_claim(user, line)

    assert not Claim.objects.exists()
    assert stored_files(private_storage) == []


def test_claim_file_a_filled_line_is_refused():
    stock()
    user = make_user()
    order = release(place(user, "P1"))
    order_services.order_fulfill(order_id=order.pk)

    with pytest.raises(ClaimLineNotClaimableError, match="FBS filled it"):
        file_claim(user, order.lines.get())


def test_claim_file_one_live_claim_per_line_and_a_denied_one_can_be_filed_again(private_storage):
    user, _, line = voided_line(min_stock=2)
    first = file_claim(user, line)
    files_before = stored_files(private_storage)

    with pytest.raises(ClaimExistsError, match=first.number):
        file_claim(user, line, receipt=upload("other.png", data=None))
    assert stored_files(private_storage) == files_before

    services.claim_deny(claim_id=first.pk, user=None, reason="Receipt unreadable.")
    again = file_claim(user, line)
    assert again.status == Claim.Status.IN_REVIEW
    assert Claim.objects.filter(line=line).count() == 2


def test_claim_file_an_approved_line_cannot_be_claimed_twice():
    user, _, line = voided_line()
    file_claim(user, line)

    with pytest.raises(ClaimExistsError):
        file_claim(user, line)


def test_claim_file_line_may_be_left_out_when_the_order_has_one_voided_line():
    stock()
    user = make_user()
    order = release(place(user, "P1", "P2"))
    p1, _p2 = order.lines.order_by("pk")
    void_lines(order, p1)

    claim = services.claim_file(
        affiliate=user.affiliate, user=user, order_id=order.pk, supplier_name="Dealer",
        purchased_on=timezone.localdate(), amount="20.00", receipt=upload(),
    )  # fmt: skip
    assert claim.line == p1


def test_claim_file_line_must_be_named_when_the_order_has_several_voided_lines():
    stock()
    user = make_user()
    order = void_lines(release(place(user, "P1", "P2")))

    with pytest.raises(ClaimRefusedError, match="2 voided lines") as refused:
        services.claim_file(
            affiliate=user.affiliate, user=user, order_id=order.pk, supplier_name="Dealer",
            purchased_on=timezone.localdate(), amount="20.00",
        )  # fmt: skip
    assert refused.value.field == "line"


def test_claim_file_another_affiliates_order_does_not_exist():
    _, _order, line = voided_line()
    stranger = make_user()

    with pytest.raises(services.ClaimOrderUnknownError) as refused:
        file_claim(stranger, line)
    assert refused.value.status_code == 404
    assert not Claim.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "0", r"more than \$0"),
        ("amount", "-5", r"more than \$0"),
        ("amount", "12.345", "two decimals"),
        ("amount", "abc", "as a number"),
        ("amount", "250000", "at most"),
        ("supplier_name", "   ", "who you bought"),
        ("purchased_on", "tomorrow", "future"),
        ("purchased_on", "before-order", "before FBS-"),
    ],
)
def test_claim_file_refuses_bad_fields_and_keeps_nothing(field, value, message, private_storage):
    user, order, line = voided_line()
    kwargs = {field: value}
    if value == "tomorrow":
        kwargs[field] = timezone.localdate() + timedelta(days=1)
    elif value == "before-order":
        kwargs[field] = timezone.localdate(order.created_at) - timedelta(days=1)

    with pytest.raises(ClaimRefusedError, match=message) as refused:
        file_claim(user, line, **kwargs)

    assert refused.value.field == field
    assert not Claim.objects.exists()
    assert stored_files(private_storage) == []


def test_claim_file_due_date_is_the_review_period_after_filing(settings):
    settings.FBS_CLAIM_REVIEW_DAYS = 30
    user, _, line = voided_line(min_stock=2)
    filed = timezone.now().replace(microsecond=0)

    claim = file_claim(user, line, now=filed)

    assert claim.created_at == filed
    assert claim.due_at == filed + timedelta(days=30)

"""Review, payouts and deadlines on the services: decisions (and that a decided claim cannot be
decided again), the affiliate's answer, payout batches, the due date and Support's digest with an
injected clock, the monthly summary, the beat task and the demo data."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from claims import selectors, services, tasks
from claims.errors import ClaimDecisionError, ClaimStatusError
from claims.models import Claim, PayoutBatch
from payments.models import LedgerEntry
from tests.factories import StaffFactory
from tests.test_claims_helpers import (
    clock_at,
    file_claim,
    use_private_storage,
    voided_line,
)

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


@pytest.fixture
def reviewer():
    return StaffFactory(group="Support", username="rita")


def in_review(amount="60.00", number="M-1", now=None, user=None):
    """A claim in review (min stock 2), its order placed and the claim filed at `now`."""
    with clock_at(now):
        user, _, line = voided_line(min_stock=2, user=user, number=number)
        return file_claim(user, line, amount=amount, now=now)


# --- Decisions ------------------------------------------------------------------------------------


def test_claim_approve_full_amount_books_the_credit_and_emails_after_commit(
    reviewer, mailoutbox, django_capture_on_commit_callbacks
):
    claim = in_review("60.00")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.claim_approve(claim_id=claim.pk, user=reviewer)

    claim.refresh_from_db()
    assert claim.status == Claim.Status.APPROVED
    assert (claim.approved_amount, claim.decided_by, claim.auto_approved) == (
        Decimal("60.00"), reviewer, False,
    )  # fmt: skip
    assert claim.credit.amount == Decimal("60.00")
    assert claim.credit.idempotency_key == f"claim:{claim.pk}:credit"
    assert len(callbacks) == 1
    assert mailoutbox[-1].subject == f"{claim.number} approved: $60.00"


def test_claim_approve_less_needs_a_note_and_never_more_than_claimed(reviewer):
    claim = in_review("60.00")

    with pytest.raises(ClaimDecisionError, match="needs a note") as refused:
        services.claim_approve(claim_id=claim.pk, user=reviewer, amount="40.00")
    assert refused.value.field == "note"
    with pytest.raises(ClaimDecisionError, match=r"At most the \$60\.00"):
        services.claim_approve(claim_id=claim.pk, user=reviewer, amount="60.01")
    assert not LedgerEntry.objects.filter(kind="credit").exists()

    services.claim_approve(claim_id=claim.pk, user=reviewer, amount="40.00", note="No rush fee.")
    claim.refresh_from_db()
    assert (claim.approved_amount, claim.decision_note) == (Decimal("40.00"), "No rush fee.")
    assert claim.credit.amount == Decimal("40.00")


def test_claim_deny_needs_a_reason_and_tells_the_affiliate(
    reviewer, mailoutbox, django_capture_on_commit_callbacks
):
    claim = in_review()

    with pytest.raises(ClaimDecisionError, match="Say why"):
        services.claim_deny(claim_id=claim.pk, user=reviewer, reason="  ")
    with django_capture_on_commit_callbacks(execute=True):
        services.claim_deny(claim_id=claim.pk, user=reviewer, reason="Wrong part on receipt.")

    claim.refresh_from_db()
    assert claim.status == Claim.Status.DENIED
    assert claim.decision_note == "Wrong part on receipt."
    assert "Why: Wrong part on receipt." in mailoutbox[-1].body
    assert not LedgerEntry.objects.filter(kind="credit").exists()


def test_a_decided_claim_cannot_be_decided_again_and_says_by_whom(reviewer):
    claim = in_review()
    services.claim_deny(claim_id=claim.pk, user=reviewer, reason="No.")

    with pytest.raises(ClaimStatusError, match=f"{claim.number} was already denied by rita"):
        services.claim_approve(claim_id=claim.pk, user=StaffFactory())
    with pytest.raises(ClaimStatusError):
        services.claim_request_info(claim_id=claim.pk, user=reviewer, message="?")
    assert not LedgerEntry.objects.filter(kind="credit").exists()


def test_claim_request_info_then_the_answer_goes_back_to_review_and_deadline_stays(
    reviewer, mailoutbox, django_capture_on_commit_callbacks
):
    claim = in_review()
    due = claim.due_at

    with django_capture_on_commit_callbacks(execute=True):
        services.claim_request_info(claim_id=claim.pk, user=reviewer, message="Part number?")
    claim.refresh_from_db()
    assert claim.status == Claim.Status.NEEDS_INFO
    assert "Part number?" in mailoutbox[-1].body
    with pytest.raises(ClaimStatusError, match="already waits"):
        services.claim_request_info(claim_id=claim.pk, user=reviewer, message="Again?")

    services.claim_reply(
        affiliate=claim.affiliate, claim_id=claim.pk, user=claim.filed_by, body="ACD P1."
    )

    claim.refresh_from_db()
    assert claim.status == Claim.Status.IN_REVIEW
    assert claim.due_at == due
    assert [(m.from_staff, m.body) for m in claim.messages.all()] == [
        (True, "Part number?"),
        (False, "ACD P1."),
    ]


def test_claim_reply_is_only_for_the_claims_own_affiliate():
    claim = in_review()
    other = in_review(number="M-2")

    with pytest.raises(Claim.DoesNotExist):
        services.claim_reply(
            affiliate=other.affiliate, claim_id=claim.pk, user=other.filed_by, body="mine now"
        )
    assert not claim.messages.exists()


def test_claim_approve_twice_books_one_credit(reviewer):
    claim = in_review()
    services.claim_approve(claim_id=claim.pk, user=reviewer)

    with pytest.raises(ClaimStatusError):
        services.claim_approve(claim_id=claim.pk, user=reviewer)
    assert LedgerEntry.objects.filter(kind="credit").count() == 1


# --- Payouts --------------------------------------------------------------------------------------


def test_claims_mark_paid_makes_one_batch_of_the_approved_ones(reviewer):
    user, _, line = voided_line()
    approved = file_claim(user, line, amount="30.00")  # at filing
    manual = in_review("70.00", number="M-2")
    services.claim_approve(claim_id=manual.pk, user=reviewer)
    pending = in_review("10.00", number="M-3")
    finance = StaffFactory(group="Finance")

    batch, skipped = services.claims_mark_paid(
        claim_ids=[approved.pk, manual.pk, pending.pk], user=finance, note="ACH 2026-11"
    )

    assert (batch.claim_count, batch.total, batch.created_by) == (2, Decimal("100.00"), finance)
    assert skipped == [pending]
    assert set(batch.claims.values_list("status", flat=True)) == {"paid"}
    assert Claim.objects.get(pk=pending.pk).status == Claim.Status.IN_REVIEW
    # Paying again pays nothing.
    assert services.claims_mark_paid(claim_ids=[approved.pk], user=finance)[0] is None
    assert PayoutBatch.objects.count() == 1


# --- Deadlines and the digest, on an injected clock -----------------------------------------------


def test_claim_due_date_and_overdue_follow_the_clock(settings):
    settings.FBS_CLAIM_REVIEW_DAYS = 30
    filed = timezone.now() - timedelta(days=40)
    claim = in_review(now=filed)

    assert claim.due_at == filed + timedelta(days=30)
    assert claim.is_overdue(now=filed + timedelta(days=29)) is False
    assert claim.is_overdue(now=filed + timedelta(days=31)) is True
    assert list(selectors.claims_overdue(now=filed + timedelta(days=31))) == [claim]
    assert list(selectors.claims_overdue(now=filed + timedelta(days=29))) == []


def test_claims_review_digest_lists_overdue_and_due_within_5_days(
    reviewer, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.FBS_SUPPORT_EMAIL = "claims-team@example.com"
    now = timezone.now()
    overdue = in_review(now=now - timedelta(days=31), number="M-1")
    soon = in_review(now=now - timedelta(days=27), number="M-2")
    later = in_review(now=now - timedelta(days=10), number="M-3")
    decided = in_review(now=now - timedelta(days=35), number="M-4")
    services.claim_deny(claim_id=decided.pk, user=reviewer, reason="No.")

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.claims_review_digest(now=now)

    assert counts == {"overdue": 1, "due_soon": 1}
    (mail,) = mailoutbox
    assert mail.to == ["claims-team@example.com"]
    assert mail.subject == "[FBS] Claims: 1 overdue, 1 due within 5 days"
    assert overdue.number in mail.body
    assert soon.number in mail.body
    assert later.number not in mail.body
    assert decided.number not in mail.body
    assert mail.body.index(overdue.number) < mail.body.index(soon.number)


def test_claims_review_digest_sends_nothing_when_nothing_is_due(mailoutbox):
    in_review(now=timezone.now())

    assert services.claims_review_digest(now=timezone.now()) == {"overdue": 0, "due_soon": 0}
    assert mailoutbox == []


def test_claims_review_digest_task_runs_the_service(mailoutbox, django_capture_on_commit_callbacks):
    in_review(now=timezone.now() - timedelta(days=40))

    with django_capture_on_commit_callbacks(execute=True):
        tasks.claims_review_digest_task()

    assert len(mailoutbox) == 1


# --- Finance's monthly summary --------------------------------------------------------------------


def test_claims_monthly_summary_by_month_filed(reviewer):
    now = timezone.now()
    last_month = now - timedelta(days=45)
    with clock_at(last_month):
        user, _, line = voided_line()
        auto = file_claim(user, line, amount="50.00", now=last_month)  # decided at once
    late = in_review("80.00", number="M-2", now=last_month)
    services.claim_approve(claim_id=late.pk, user=reviewer, now=last_month + timedelta(days=40))
    denied = in_review("20.00", number="M-3", now=last_month)
    services.claim_deny(
        claim_id=denied.pk, user=reviewer, reason="No.", now=last_month + timedelta(days=10)
    )
    services.claims_mark_paid(claim_ids=[auto.pk], user=reviewer)
    in_review("15.00", number="M-4", now=now)

    rows = selectors.claims_monthly_summary(now=now)

    old = next(r for r in rows if r.filed == 3)
    assert (old.claimed, old.approved, old.paid) == (
        Decimal("150.00"), Decimal("130.00"), Decimal("50.00"),
    )  # fmt: skip
    assert old.decided == 3
    assert old.avg_days_to_decision == Decimal("16.7")  # (0 + 40 + 10) / 3
    assert (old.decided_on_time, old.deadline_known) == (2, 3)
    assert old.decided_on_time_share == Decimal("66.7")
    assert old.auto_approval_share == Decimal("33.3")
    new = next(r for r in rows if r.filed == 1)
    assert (new.decided, new.deadline_known, new.decided_on_time_share) == (0, 0, None)


# --- Demo data ------------------------------------------------------------------------------------


def test_seed_claims_makes_every_status_once(django_capture_on_commit_callbacks):
    from affiliates.services import affiliate_create, payment_method_add_card
    from claims.demo import seed_claims
    from tests.factories import import_feed

    import_feed("WH1", [("ACD", f"P{n}", 50, "20.00") for n in range(10)])
    for username, min_stock in (("rapid-auto", 3), ("ebay-parts", 2)):
        affiliate, _ = affiliate_create(
            username=username, password="pw-long-enough-1", company=username,
            email=f"{username}@example.com", min_stock=min_stock, marketplaces=["ebay"],
        )  # fmt: skip
        payment_method_add_card(
            affiliate=affiliate, number="4242424242424242", exp_month=12, exp_year=2035
        )
    StaffFactory(username="support", group="Support")
    StaffFactory(username="finance", group="Finance")

    assert seed_claims() == 7
    assert set(Claim.objects.values_list("status", flat=True)) == set(Claim.Status.values)
    assert Claim.objects.filter(auto_approved=True).count() == 2
    assert seed_claims() == 0
    assert Claim.objects.count() == 7

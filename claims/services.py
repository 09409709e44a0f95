"""Every change of a claim. Each status move is one compare-and-set on the expected status under
the claim's row lock, so two reviewers acting at once cannot both decide: the second finds the
claim decided and is told who decided it. Money moves in the same transaction as the approval
(a ledger credit with the key claim:<id>:credit, so it is booked once whatever is retried).

Every function takes `now`, so tests and scripts give it the clock instead of waiting for it.
"""

import logging
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from affiliates.models import Affiliate
from claims import eligibility, emails, receipts
from claims.errors import (
    ClaimDecisionError,
    ClaimExistsError,
    ClaimLineNotClaimableError,
    ClaimPayoutChangedError,
    ClaimRefusedError,
    ClaimStatusError,
)
from claims.models import CENT, Claim, ClaimMessage, PayoutBatch
from orders import events as order_events
from orders.errors import LineCompensatedError
from orders.models import Order, OrderEvent, OrderLine
from orders.services import (
    line_compensated_message,
    line_compensation_release,
    line_compensation_take,
)
from payments.models import LedgerEntry
from payments.services import ledger_record

logger = logging.getLogger(__name__)

Status = Claim.Status
# A part that costs more than this was not bought to save a marketplace sale: a typo.
MAX_CLAIM_AMOUNT = Decimal("100000.00")
MAX_MESSAGE_LENGTH = 5000
# Support's daily digest lists the undecided claims due within this many days.
DIGEST_DUE_WITHIN_DAYS = 5


class ClaimOrderUnknownError(ClaimRefusedError):
    """Another affiliate's order, like a missing one, does not exist for this affiliate."""

    code = "not_found"
    status_code = 404


def _actor(user) -> str:
    if user is None:
        return OrderEvent.Actor.SYSTEM
    return OrderEvent.Actor.STAFF if user.is_staff else OrderEvent.Actor.AFFILIATE


def _decided_by(claim: Claim) -> str:
    who = claim.decided_by.get_username() if claim.decided_by else "automatically"
    if claim.decided_by:
        who = f"by {who}"
    when = (
        timezone.localtime(claim.decided_at).strftime("%b %-d, %H:%M") if claim.decided_at else ""
    )
    return f"{claim.get_status_display().lower()} {who}" + (f" on {when}" if when else "")


# --- Checking what was typed ------------------------------------------------------------------


def clean_amount(value, *, field: str = "amount") -> Decimal:
    try:
        amount = Decimal(str(value).strip().lstrip("$").replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ClaimRefusedError("Enter the amount as a number, e.g. 84.50.", field=field) from None
    if not amount.is_finite() or amount <= 0:
        raise ClaimRefusedError("The amount must be more than $0.", field=field)
    if amount != amount.quantize(CENT):
        raise ClaimRefusedError("The amount has at most two decimals (cents).", field=field)
    if amount > MAX_CLAIM_AMOUNT:
        raise ClaimRefusedError(f"The amount must be at most ${MAX_CLAIM_AMOUNT:,}.", field=field)
    return amount.quantize(CENT)


def _clean_supplier(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ClaimRefusedError("Say who you bought the part from.", field="supplier_name")
    if len(name) > 200:
        raise ClaimRefusedError(
            "The supplier name is too long (200 at most).", field="supplier_name"
        )
    return name


def _clean_purchase_date(purchased_on, *, order: Order, now) -> date:
    if not isinstance(purchased_on, date):
        raise ClaimRefusedError("Enter the purchase date.", field="purchased_on")
    today = timezone.localdate(now)
    placed = timezone.localdate(order.created_at)
    if purchased_on > today:
        raise ClaimRefusedError("The purchase date cannot be in the future.", field="purchased_on")
    if purchased_on < placed:
        raise ClaimRefusedError(
            f"The purchase date is before {order.number} was placed ({placed:%b %-d, %Y}): "
            "the receipt must be for a purchase made for this order.",
            field="purchased_on",
        )
    return purchased_on


def _order_of(affiliate: Affiliate, order_id) -> Order:
    try:
        return Order.objects.get(affiliate=affiliate, pk=int(order_id))
    except (Order.DoesNotExist, TypeError, ValueError):
        raise ClaimOrderUnknownError(f"You have no order {order_id}.", field="order") from None


def _line_of(order: Order, line_id) -> OrderLine:
    if line_id in (None, ""):
        claimable = [ln for ln in order.lines.all() if eligibility.line_is_claimable(ln)]
        if len(claimable) == 1:
            return claimable[0]
        if not claimable:
            raise ClaimLineNotClaimableError(
                f"No line of {order.number} was voided by FBS: there is nothing to claim.",
                field="line",
            )
        raise ClaimRefusedError(
            f"{order.number} has {len(claimable)} voided lines: say which one the claim is for.",
            field="line",
        )
    try:
        return order.lines.get(pk=int(line_id))
    except (OrderLine.DoesNotExist, TypeError, ValueError):
        raise ClaimOrderUnknownError(
            f"{order.number} has no line {line_id}.", field="line"
        ) from None


def _refuse_unless_claimable(line: OrderLine, order: Order) -> None:
    if eligibility.line_is_claimable(line):
        return
    if line.compensation == OrderLine.Compensation.CLAIM:
        live = Claim.objects.filter(line=line, status__in=Claim.LIVE).first()
        raise ClaimExistsError(
            f"{line.line_code} {line.part_number} already has claim {live.number} "
            f"({live.get_status_display().lower()}).",
            field="line",
        )
    if line.compensation or line.status == OrderLine.Status.SPECIAL_ORDER:
        raise LineCompensatedError(
            line_compensated_message(line, wanted=OrderLine.Compensation.CLAIM), field="line"
        )
    if line.status == OrderLine.Status.CANCELLED:
        why = "it was cancelled, so it was never FBS's to fill"
    elif line.status in (OrderLine.Status.FULFILLED, OrderLine.Status.SHIPPED):
        why = "FBS filled it"
    else:
        why = "it has not been voided"
    raise ClaimLineNotClaimableError(
        f"{line.line_code} {line.part_number} of {order.number} cannot be claimed: {why}. "
        "Only lines FBS voided can be claimed.",
        field="line",
    )


def _same_receipt_elsewhere(sha256: str, *, claim: Claim | None = None) -> Claim | None:
    """The earliest other claim that was sent this same file, at filing or with an answer. The
    one duplicate lookup of filing and of replies: a receipt counts once wherever it was sent."""
    found = Claim.objects.filter(Q(receipt_sha256=sha256) | Q(messages__receipt_sha256=sha256))
    if claim is not None:
        found = found.exclude(pk=claim.pk)
    return found.order_by("pk").first()


# --- Filing -----------------------------------------------------------------------------------


def claim_file(
    *,
    affiliate: Affiliate,
    user=None,
    order_id: int,
    line_id: int | None = None,
    supplier_name: str,
    purchased_on: date,
    amount,
    receipt=None,
    now=None,
) -> Claim:
    """File a claim for a line FBS voided, with the receipt of the part bought elsewhere.

    Approved at once, with its credit booked, when every condition holds; otherwise in review
    with each unmet condition stored. A refusal keeps nothing: the receipt is stored only once
    every check has passed, and removed again if the transaction does not commit.
    """
    now = now or timezone.now()
    supplier_name = _clean_supplier(supplier_name)
    amount = clean_amount(amount)
    order = _order_of(affiliate, order_id)
    line = _line_of(order, line_id)
    _refuse_unless_claimable(line, order)
    purchased_on = _clean_purchase_date(purchased_on, order=order, now=now)
    checked = receipts.check_upload(receipt) if receipt is not None else None

    stored_name = ""
    try:
        with transaction.atomic():
            line = OrderLine.objects.select_for_update().get(pk=line.pk)
            _refuse_unless_claimable(line, order)
            live = Claim.objects.filter(line=line, status__in=Claim.LIVE).first()
            if live is not None:
                raise ClaimExistsError(
                    f"{line.line_code} {line.part_number} already has claim {live.number} "
                    f"({live.get_status_display().lower()}).",
                    field="line",
                )
            duplicate_of = None
            if checked is not None:
                duplicate_of = _same_receipt_elsewhere(checked.sha256)
            reasons = eligibility.unmet_conditions(
                order=order,
                amount=amount,
                has_receipt=checked is not None,
                duplicate_receipt=duplicate_of is not None,
            )
            claim = Claim(
                affiliate=affiliate,
                order=order,
                line=line,
                filed_by=user,
                supplier_name=supplier_name,
                purchased_on=purchased_on,
                amount=amount,
                status=Status.IN_REVIEW,
                reasons=[reason.as_dict() for reason in reasons],
                duplicate_of=duplicate_of,
                created_at=now,
                due_at=now + timedelta(days=settings.FBS_CLAIM_REVIEW_DAYS),
            )
            if checked is not None:
                claim.receipt.save(
                    f"receipt.{checked.extension}", ContentFile(checked.data), save=False
                )
                stored_name = claim.receipt.name
                claim.receipt_name = checked.name
                claim.receipt_sha256 = checked.sha256
                claim.receipt_content_type = checked.content_type
                claim.receipt_size = checked.size
            claim.save()
            # The last guard: of a claim and a special order asked at once, one takes the line.
            line_compensation_take(line=line, kind=OrderLine.Compensation.CLAIM)
            order_events.record(
                order,
                "claim_filed",
                f"Claim {claim.number} filed: ${amount} paid to {supplier_name}.",
                actor=_actor(user),
                user=user,
                line=line,
                claim=claim.pk,
            )
            if not reasons:
                _approve(claim, user=None, amount=amount, note="", now=now, auto=True)
    except IntegrityError as exc:
        _delete_stored(stored_name)
        # Two filings for one line at the same moment: the constraint lets one through.
        raise ClaimExistsError("This line already has a claim.", field="line") from exc
    except BaseException:
        _delete_stored(stored_name)
        raise
    return claim


def _delete_stored(name: str) -> None:
    if name:
        from django.core.files.storage import default_storage

        try:
            default_storage.delete(name)
        except OSError:
            logger.exception("Could not remove receipt %s of a claim not filed", name)


# --- Deciding ---------------------------------------------------------------------------------


def _lock_claim(claim_id: int) -> Claim:
    """Lock the claim's row, then read it with what it refers to. Two steps: a row read while
    waiting for the lock is brought up to date by PostgreSQL, but rows joined to it are not (the
    winner's decided_by would read as nobody)."""
    Claim.objects.select_for_update().filter(pk=claim_id).values_list("pk").get()
    return Claim.objects.select_related("affiliate", "order", "line", "decided_by").get(pk=claim_id)


def _refuse_unless_undecided(claim: Claim) -> None:
    if not claim.is_undecided:
        raise ClaimStatusError(
            f"{claim.number} was already {_decided_by(claim)}: nothing was changed."
        )


def _move(claim: Claim, target: str, **fields) -> None:
    """Compare-and-set the claim's status (its row is locked: this is the guard of last resort
    where the lock is not enforced, e.g. SQLite, and the reason the move is checked again)."""
    if not Claim.can_move(claim.status, target):
        raise ClaimStatusError(
            f"A claim that is {claim.get_status_display().lower()} cannot become "
            f"{Status(target).label.lower()}."
        )
    updated = Claim.objects.filter(pk=claim.pk, status=claim.status).update(status=target, **fields)
    if not updated:
        raise ClaimStatusError(f"{claim.number} changed meanwhile: nothing was changed.")
    claim.status = target
    for name, value in fields.items():
        setattr(claim, name, value)


def _approve(claim: Claim, *, user, amount: Decimal, note: str, now, auto: bool) -> None:
    entry, _ = ledger_record(
        affiliate=claim.affiliate,
        kind=LedgerEntry.Kind.CREDIT,
        amount=amount,
        idempotency_key=f"claim:{claim.pk}:credit",
        memo=f"{claim.number}: {claim.line.line_code} {claim.line.part_number} bought from "
        f"{claim.supplier_name}"[:255],
        order=claim.order,
    )
    _move(
        claim,
        Status.APPROVED,
        auto_approved=auto,
        approved_amount=amount,
        decision_note=note,
        decided_by=user,
        decided_at=now,
        credit=entry,
    )
    order_events.record(
        claim.order,
        "claim_approved",
        f"Claim {claim.number} approved"
        + (" at filing (every condition met)" if auto else "")
        + f": ${amount} credited.",
        actor=_actor(user),
        user=user,
        line=claim.line,
        claim=claim.pk,
    )
    emails.claim_approved(claim)


def _legacy_pair_message(claim: Claim, line: OrderLine, *, doing: str) -> str:
    return (
        f"{claim.number} cannot be {doing}: {line.line_code} {line.part_number} is made good by "
        "a special order too (the claim was filed before a line could be compensated only "
        "once). Deny the claim, or have the affiliate withdraw the special order first."
    )


def _lock_line_for_claim(claim: Claim, *, doing: str) -> OrderLine:
    """Lock the claim's line (after the claim: the order claim_deny takes them in too) and make
    sure this claim is what compensates it, so the line is never also shipped as a special order.
    A line left without compensation (a legacy pair whose special order was withdrawn or voided
    again) is taken for the claim here, by the same compare-and-set as at filing."""
    line = OrderLine.objects.select_for_update(no_key=True).get(pk=claim.line_id)
    if line.compensation == OrderLine.Compensation.NONE and claim.is_undecided:
        line_compensation_take(line=line, kind=OrderLine.Compensation.CLAIM)
    if line.compensation != OrderLine.Compensation.CLAIM:
        raise LineCompensatedError(_legacy_pair_message(claim, line, doing=doing), field="line")
    return line


def claim_approve(*, claim_id: int, user, amount=None, note: str = "", now=None) -> Claim:
    """Approve the claimed amount, or less with a note saying why; the credit is booked now.
    Refused while the line is a special order too (LineCompensatedError): paid twice otherwise."""
    now = now or timezone.now()
    note = (note or "").strip()
    with transaction.atomic():
        claim = _lock_claim(claim_id)
        _refuse_unless_undecided(claim)
        _lock_line_for_claim(claim, doing="approved")
        if amount in (None, ""):
            approved = claim.amount
        else:
            try:
                approved = clean_amount(amount)
            except ClaimRefusedError as exc:
                raise ClaimDecisionError(exc.message, field="amount") from None
        if approved > claim.amount:
            raise ClaimDecisionError(
                f"At most the ${claim.amount} claimed can be approved.", field="amount"
            )
        if approved < claim.amount and not note:
            raise ClaimDecisionError(
                "Approving less than was claimed needs a note saying why.", field="note"
            )
        _approve(claim, user=user, amount=approved, note=note, now=now, auto=False)
    return claim


def claim_deny(*, claim_id: int, user, reason: str, now=None) -> Claim:
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ClaimDecisionError(
            "Say why the claim is denied: the affiliate sees it.", field="reason"
        )
    with transaction.atomic():
        claim = _lock_claim(claim_id)
        _refuse_unless_undecided(claim)
        _move(claim, Status.DENIED, decision_note=reason, decided_by=user, decided_at=now)
        # Denied: the claim made nothing good, so the line may be claimed again or wait as a
        # special order.
        line_compensation_release(line_id=claim.line_id, kind=OrderLine.Compensation.CLAIM)
        order_events.record(
            claim.order,
            "claim_denied",
            f"Claim {claim.number} denied: {reason}"[:500],
            actor=_actor(user),
            user=user,
            line=claim.line,
            claim=claim.pk,
        )
        emails.claim_denied(claim)
    return claim


def _clean_message(body: str, field: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ClaimDecisionError("Write the message.", field=field)
    if len(body) > MAX_MESSAGE_LENGTH:
        raise ClaimDecisionError(
            f"The message is too long ({MAX_MESSAGE_LENGTH} characters at most).", field=field
        )
    return body


def claim_request_info(*, claim_id: int, user, message: str, now=None) -> Claim:
    """Ask the affiliate for more information; the claim waits for the answer (needs_info). The
    deadline does not move: waiting for the affiliate is part of the 30 days."""
    now = now or timezone.now()
    message = _clean_message(message, "message")
    with transaction.atomic():
        claim = _lock_claim(claim_id)
        if claim.status != Status.IN_REVIEW:
            _refuse_unless_undecided(claim)
            raise ClaimStatusError(f"{claim.number} already waits for the affiliate's answer.")
        _move(claim, Status.NEEDS_INFO)
        ClaimMessage.objects.create(
            claim=claim, author=user, from_staff=True, body=message, created_at=now
        )
        emails.claim_info_requested(claim, message=message)
    return claim


def claim_reply(
    *, affiliate: Affiliate, claim_id: int, user, body: str, receipt=None, now=None
) -> Claim:
    """The affiliate writes on its claim, and may attach a receipt: the one it did not have at
    filing, or, answering a request for information, a new one (a clearer scan, the right
    invoice). Either is checked like a receipt sent at filing. An answer to a request for
    information sends the claim back to review."""
    now = now or timezone.now()
    body = _clean_message(body, "body")
    checked = receipts.check_upload(receipt) if receipt is not None else None
    stored_name = ""
    try:
        with transaction.atomic():
            try:
                claim = _lock_claim(claim_id)
            except Claim.DoesNotExist:
                claim = None
            if claim is None or claim.affiliate_id != affiliate.pk:
                raise Claim.DoesNotExist(f"No claim {claim_id}.")
            if not claim.is_undecided:
                raise ClaimStatusError(
                    f"{claim.number} is {claim.get_status_display().lower()}: "
                    "it takes no more messages."
                )
            message = ClaimMessage(
                claim=claim, author=user, from_staff=False, body=body, created_at=now
            )
            if checked is not None:
                duplicate_of = _same_receipt_elsewhere(checked.sha256, claim=claim)
                if not claim.receipt:
                    # The receipt the claim was filed without: it becomes the claim's receipt.
                    holder = claim
                elif claim.status == Status.NEEDS_INFO:
                    # A new receipt with the answer: kept on the message, the first one stays.
                    holder = message
                else:
                    raise ClaimRefusedError(
                        f"{claim.number} already has its receipt. You can send a new one when "
                        "the reviewer asks for more information.",
                        field="receipt",
                    )
                holder.receipt.save(
                    f"receipt.{checked.extension}", ContentFile(checked.data), save=False
                )
                stored_name = holder.receipt.name
                holder.receipt_name = checked.name
                holder.receipt_sha256 = checked.sha256
                holder.receipt_content_type = checked.content_type
                holder.receipt_size = checked.size
                fields = ["duplicate_of"]
                if holder is claim:
                    fields += ["receipt", "receipt_name", "receipt_sha256",
                               "receipt_content_type", "receipt_size"]  # fmt: skip
                if duplicate_of is not None and claim.duplicate_of_id is None:
                    claim.duplicate_of = duplicate_of
                claim.save(update_fields=fields)
                message.body += f"\n\n(Receipt attached: {checked.name})"
            if claim.status == Status.NEEDS_INFO:
                _move(claim, Status.IN_REVIEW)
            message.save()
    except BaseException:
        _delete_stored(stored_name)
        raise
    return claim


# --- Paying -----------------------------------------------------------------------------------


def claims_mark_paid(
    *, claim_ids, user, note: str = "", fingerprint: str | None = None, now=None
) -> tuple[PayoutBatch | None, list[Claim]]:
    """Approved claims among `claim_ids` become paid, together, in one payout batch. Returns the
    batch (None when none was approved) and the claims left as they were.

    Given the `fingerprint` of the confirmation that was shown (selectors.payout_preview), pays
    only if the claims are still exactly as shown, under their row locks; otherwise refuses
    with ClaimPayoutChangedError and pays nothing. Refuses with LineCompensatedError, paying
    nothing, when a special order also makes good the line of one of them."""
    from claims.selectors import payout_fingerprint

    now = now or timezone.now()
    with transaction.atomic():
        # Locked in primary-key order, like every multi-row lock here: no deadlocks.
        claims = list(
            Claim.objects.select_for_update().filter(pk__in=list(claim_ids)).order_by("pk")
        )
        if fingerprint is not None and payout_fingerprint(claims) != fingerprint:
            raise ClaimPayoutChangedError(
                "Some of these claims changed after the confirmation was shown (approved, paid "
                "or changed meanwhile): nothing was paid. Check the list again and confirm."
            )
        approved = [c for c in claims if c.status == Status.APPROVED]
        skipped = [c for c in claims if c.status != Status.APPROVED]
        if not approved:
            return None, skipped
        # Their lines, locked in primary-key order after the claims (as claim_approve does):
        # a claim whose line a special order also makes good is not paid, and nor is the batch.
        lines = {
            line.pk: line
            for line in OrderLine.objects.select_for_update(no_key=True)
            .filter(pk__in=[c.line_id for c in approved])
            .order_by("pk")
        }
        doubled = [
            c for c in approved if lines[c.line_id].compensation != OrderLine.Compensation.CLAIM
        ]
        if doubled:
            raise LineCompensatedError(
                " ".join(_legacy_pair_message(c, lines[c.line_id], doing="paid") for c in doubled)
                + " Nothing was paid."
            )
        total = sum((c.approved_amount for c in approved), Decimal("0.00"))
        batch = PayoutBatch.objects.create(
            created_by=user, created_at=now, total=total, claim_count=len(approved), note=note
        )
        updated = Claim.objects.filter(
            pk__in=[c.pk for c in approved], status=Status.APPROVED
        ).update(status=Status.PAID, paid_at=now, payout_batch=batch)
        if updated != len(approved):
            raise ClaimStatusError("Some claims changed meanwhile: no batch was made.")
        for claim in approved:
            claim.status, claim.paid_at, claim.payout_batch = Status.PAID, now, batch
    return batch, skipped


# --- Support's digest -------------------------------------------------------------------------


def claims_review_digest(*, now=None) -> dict[str, int]:
    """Email Support the undecided claims that are overdue and those due within 5 days. Sends
    nothing when there are none. Safe to run twice (it only reads and emails)."""
    from claims import selectors

    now = now or timezone.now()
    overdue = list(selectors.claims_overdue(now=now).select_related("affiliate"))
    due_soon = list(
        selectors.claims_due_within(now=now, days=DIGEST_DUE_WITHIN_DAYS).select_related(
            "affiliate"
        )
    )
    if overdue or due_soon:
        with transaction.atomic():
            emails.support_digest(due_soon=due_soon, overdue=overdue, days=DIGEST_DUE_WITHIN_DAYS)
    return {"overdue": len(overdue), "due_soon": len(due_soon)}

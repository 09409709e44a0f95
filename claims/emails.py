"""Emails about claims: to the affiliate on each decision and request, to Support each day.
Each is sent after the change it tells of has committed (a rolled-back decision sends nothing)."""

from django.conf import settings

from sophio_fbs.mail import send_after_commit


def _what(claim) -> str:
    return (
        f"{claim.number} (${claim.amount} paid to {claim.supplier_name} for "
        f"{claim.line.line_code} {claim.line.part_number}, order {claim.order.number})"
    )


def _page(claim) -> str:
    # No site address is configured, so the email names the page instead of linking it.
    return f"See {claim.number} under Claims in your control panel.\n"


def claim_approved(claim) -> None:
    if claim.auto_approved:
        how = "It met every condition for payment without review, so it is approved at once."
    else:
        how = "A reviewer approved it."
    partly = ""
    if claim.approved_amount < claim.amount:
        partly = f" (of the ${claim.amount} claimed)"
    note = f"\nNote from the reviewer: {claim.decision_note}\n" if claim.decision_note else ""
    send_after_commit(
        f"{claim.number} approved: ${claim.approved_amount}",
        f"Your claim {_what(claim)} is approved. {how}\n\n"
        f"${claim.approved_amount}{partly} is credited to your account; it is paid out with the "
        f"next payout batch.\n{note}\n{_page(claim)}",
        [claim.affiliate.contact_email],
    )


def claim_denied(claim) -> None:
    send_after_commit(
        f"{claim.number} denied",
        f"Your claim {_what(claim)} is denied.\n\nWhy: {claim.decision_note}\n\n"
        "If you have a better receipt or other proof, you can file the line again.\n\n"
        f"{_page(claim)}",
        [claim.affiliate.contact_email],
    )


def claim_info_requested(claim, *, message: str) -> None:
    send_after_commit(
        f"{claim.number}: more information needed",
        f"A reviewer needs more information about your claim {_what(claim)}:\n\n{message}\n\n"
        f"Answer on the claim page; the review goes on once you have.\n{_page(claim)}",
        [claim.affiliate.contact_email],
    )


def support_digest(*, due_soon: list, overdue: list, days: int) -> None:
    def lines(claims):
        return "".join(
            f"  {c.number}  due {c.due_at:%Y-%m-%d}  {c.get_status_display():<18} "
            f"${c.amount:>9}  {c.affiliate.name}\n"
            for c in claims
        )

    body = ""
    if overdue:
        body += f"Overdue ({len(overdue)}): past the {settings.FBS_CLAIM_REVIEW_DAYS}-day promise\n"
        body += lines(overdue) + "\n"
    if due_soon:
        body += f"Due within {days} days ({len(due_soon)})\n" + lines(due_soon) + "\n"
    body += "Work them in admin under Claims; the list is sorted by due date.\n"
    send_after_commit(
        f"[FBS] Claims: {len(overdue)} overdue, {len(due_soon)} due within {days} days",
        body,
        [settings.FBS_SUPPORT_EMAIL],
    )

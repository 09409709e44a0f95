"""Emails to affiliates and to Support, sent after the change they tell of has committed."""

from django.conf import settings

from sophio_fbs.mail import send_after_commit

# What an affiliate can tell a buyer whose line FBS voided: in our words, from the support article.
BUYER_MESSAGE_VOIDED = (
    "We are sorry: the item you ordered cannot ship today because our inventory listing was out "
    "of step with our supplier. We can special order it from the manufacturer for you, but we "
    "cannot promise a ship date yet. Would you like us to do that, or would you prefer a refund?"
)

# What an affiliate can tell a buyer whose order has already gone to the warehouse.
BUYER_MESSAGE_TOO_LATE = (
    "Our order system is automated: once an order is paid it goes straight to the warehouse, "
    "where it is packed in an area nobody can reach to pull it back. Your order can no longer be "
    "stopped. When it arrives you can refuse the delivery, or return it, and we will refund you "
    "as soon as the return is on its way back."
)


def _refund_note(order) -> str:
    if order.paid_at:
        return f" and ${order.total} is on its way back to your payment method."
    return "."


def order_cancelled(order) -> None:
    send_after_commit(
        f"{order.number} cancelled",
        f"Your Cancel Request for {order.number} (marketplace order "
        f"{order.marketplace_order_id}) won: the order is cancelled" + _refund_note(order) + "\n",
        [order.affiliate.contact_email],
    )


def line_voided(order, line) -> None:
    send_after_commit(
        f"{order.number}: {line.line_code} {line.part_number} could not be filled",
        f"No warehouse in the FBS network could fill {line.qty} x {line.line_code} "
        f"{line.part_number} of {order.number} (marketplace order {order.marketplace_order_id}). "
        f"The line is voided and ${line.line_total} is refunded to your payment method.\n\n"
        "If your buyer agrees to wait, open the order and ask for a special order: it stays open "
        "until stock appears, then the refund is reversed and the part ships. If you buy the "
        "part elsewhere, you can file a claim with the receipt.\n\n"
        f"A message you could send your buyer:\n\n{BUYER_MESSAGE_VOIDED}\n",
        [order.affiliate.contact_email],
    )


def reversal_failed(order, line, *, message: str) -> None:
    send_after_commit(
        f"{order.number}: special order waiting for payment",
        f"Stock of {line.line_code} {line.part_number} is back for your special order in "
        f"{order.number}, but charging ${line.line_total} failed: {message}. The special order "
        "stays open; update your payment method on the Settings page and it will go through "
        "the next time stock is there.\n",
        [order.affiliate.contact_email],
    )


def support_order_stuck(order, *, runs: int) -> None:
    send_after_commit(
        f"[FBS] {order.number} is stuck in processing",
        f"Fulfillment of {order.number} ({order.affiliate}) did not finish after {runs} runs. "
        "It keeps being retried; please look at its timeline in admin.\n",
        [settings.FBS_SUPPORT_EMAIL],
    )

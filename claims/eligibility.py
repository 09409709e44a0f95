"""Which claims FBS pays without a person looking at them, decided once, at filing.

A line FBS voided can be claimed; nothing else can (a line the affiliate cancelled, one that was
filled, one still open). A claimable line is paid at once when every condition below holds, with
the facts as they were when the order was placed (the snapshot on the order), not as they are
today. Any condition not met sends the claim to a reviewer, with that condition listed.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from orders.models import Order, OrderLine

# Min stock 3 or more when the order was placed (support article).
AUTO_APPROVE_MIN_STOCK = 3
# A line FBS voided and refunded. A special order is the other way to make a voided line good
# (its refund reversed, the part shipped): a line is compensated once, so it is not claimable.
CLAIMABLE_LINE_STATUSES = (OrderLine.Status.VOIDED,)


@dataclass(frozen=True)
class Reason:
    code: str
    text: str

    def as_dict(self) -> dict:
        return {"code": self.code, "text": self.text}


def line_is_claimable(line: OrderLine) -> bool:
    return (
        line.status in CLAIMABLE_LINE_STATUSES
        and line.voided_at is not None
        and line.compensation == OrderLine.Compensation.NONE
    )


def unmet_conditions(
    *,
    order: Order,
    amount: Decimal,
    has_receipt: bool,
    duplicate_receipt: bool = False,
) -> list[Reason]:
    """The conditions for approval without review that this claim does not meet (empty: all
    met). The line itself must already be claimable (line_is_claimable)."""
    limit = settings.FBS_CLAIM_AUTO_APPROVE_LIMIT
    reasons = []
    if order.min_stock_at_placement < AUTO_APPROVE_MIN_STOCK:
        reasons.append(
            Reason(
                "min_stock_below_3",
                f"Your min stock was {order.min_stock_at_placement} when {order.number} was "
                f"placed; claims are paid without review only at {AUTO_APPROVE_MIN_STOCK} or more.",
            )
        )
    if not order.card_on_file_at_placement:
        reasons.append(
            Reason(
                "no_card_on_file",
                f"No valid card was on file when {order.number} was placed.",
            )
        )
    if not has_receipt:
        reasons.append(Reason("no_receipt", "No receipt was attached."))
    if amount > limit:
        reasons.append(
            Reason(
                "amount_over_limit",
                f"${amount} is over the ${limit} that is paid without review.",
            )
        )
    if duplicate_receipt:
        reasons.append(
            Reason(
                "duplicate_receipt",
                "The same receipt file was already sent with an earlier claim.",
            )
        )
    return reasons


def preview(*, order: Order) -> list[Reason]:
    """What the filing page can say before an amount is typed: the conditions fixed by the
    order (min stock and card at placement)."""
    return unmet_conditions(order=order, amount=Decimal("0"), has_receipt=True)

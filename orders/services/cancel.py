"""The affiliate's Cancel Request: the same compare-and-set on `status = queued` as the
release, so exactly one of them wins.
"""

from collections import Counter

from django.db import transaction
from django.utils import timezone

from orders import emails, events
from orders.locks import (
    lock_item_ids,
    lock_order,
)
from orders.models import Order
from orders.services._common import (
    LineStatus,
    Status,
    _commit_stock,
    _move,
)
from orders.services.payment import (
    _refund,
)
from orders.transitions import check_line_move
from payments.models import LedgerEntry

CANCELLED = "cancelled"


TOO_LATE = "too_late"


def order_cancel_request(*, order: Order, user=None, reason: str = "", affiliate=None) -> str:
    """The affiliate's Cancel Request: "cancelled" when it won, "too_late" when the order had
    already left the queue. The same compare-and-set as the release: only one of them wins.

    Given `affiliate`, the order must be one of its own: another's raises Order.DoesNotExist,
    as an unknown id does."""
    reason = (reason or "").strip()[:300]
    # No status leads back into the queue (ORDER_TRANSITIONS): an order seen past it, by a plain
    # read, is past it for good. The answer is then given without waiting for the order's row
    # lock, which a fulfillment run may hold while it decides the order's lines.
    seen = Order.objects.filter(pk=order.pk)
    if affiliate is not None:
        seen = seen.filter(affiliate=affiliate)
    status_now = seen.values_list("status", flat=True).get()
    if status_now == Status.CANCELLED:
        return CANCELLED  # asked twice: the first one won; nothing moves again
    if status_now not in Order.CANCELLABLE:
        events.cancel_requested(
            order, user=user, outcome=TOO_LATE, reason=reason, status_from=status_now
        )
        return TOO_LATE
    with transaction.atomic():
        order = lock_order(order.pk)
        status_from = order.status
        if status_from == Status.CANCELLED:
            return CANCELLED
        if status_from not in Order.CANCELLABLE or not _move(
            order, Status.CANCELLED, cancelled_at=timezone.now()
        ):
            events.cancel_requested(
                order, user=user, outcome=TOO_LATE, reason=reason, status_from=status_from
            )
            return TOO_LATE
        _release_lines(order)
        timeline = [
            events.cancel_requested(
                order,
                user=user,
                outcome=CANCELLED,
                reason=reason,
                status_from=status_from,
                save=False,
            )
        ]
        if status_from == Status.QUEUED:
            _refund(
                order,
                amount=order.total,
                key=f"order:{order.pk}:refund",
                kind=LedgerEntry.Kind.REFUND,
                timeline=timeline,
            )
        events.write(timeline)
        emails.order_cancelled(order)
    return CANCELLED


def _release_lines(order: Order) -> None:
    """A cancelled order's stock goes back, and its open lines are cancelled."""
    quantities = Counter()
    for item_id, qty in order.lines.filter(committed=True).values_list("item_id", "qty"):
        quantities[item_id] += qty
    if len(quantities) > 1:
        # In primary-key order, as every service locks items: two never wait on each
        # other. A single item is locked by its UPDATE just as well.
        lock_item_ids(quantities)
    _commit_stock(quantities, -1)
    check_line_move(LineStatus.OPEN, LineStatus.CANCELLED)
    order.lines.filter(status=LineStatus.OPEN).update(status=LineStatus.CANCELLED, committed=False)

"""Helpers the stages share: the order's compare-and-set, committed stock, and work
queued after commit.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When

from inventory.models import Item
from orders.models import Order, OrderLine
from orders.transitions import check_order_move

logger = logging.getLogger("orders.services")  # one logger for the whole package


Status = Order.Status


LineStatus = OrderLine.Status


def _on_commit_enqueue(task, *args) -> None:
    """Queue a task after commit. A broker that is down must not undo or fail the change already
    committed: the sweeps find the work again (due orders, stalled processing)."""

    def send():
        try:
            task.delay(*args)
        except Exception:
            logger.exception("Could not queue %s%s; the sweep will pick it up", task.name, args)

    transaction.on_commit(send)


def _enqueue_fulfillment(order_ids: list[int]) -> None:
    """Hand orders to fulfillment after commit, FBS_FULFILLMENT_BATCH_SIZE to a task."""
    from orders.tasks import order_fulfill_batch_task

    size = settings.FBS_FULFILLMENT_BATCH_SIZE
    for start in range(0, len(order_ids), size):
        _on_commit_enqueue(order_fulfill_batch_task, order_ids[start : start + size])


def _commit_stock(quantities: dict[int, int], sign: int) -> None:
    """Add (sign=1) or release (sign=-1) committed qty; items must be locked already. One
    UPDATE for every item, each by its own qty."""
    if not quantities:
        return
    qty = Case(
        *[When(pk=item_id, then=Value(n * sign)) for item_id, n in quantities.items()],
        output_field=IntegerField(),
    )
    Item.objects.filter(pk__in=list(quantities)).update(
        committed_qty=F("committed_qty") + qty, available_qty=F("available_qty") - qty
    )


def _move(order: Order, target: str, **fields) -> bool:
    """Compare-and-set the order's status; True when this call made the move."""
    check_order_move(order.status, target)
    updated = Order.objects.filter(pk=order.pk, status=order.status).update(status=target, **fields)
    if updated:
        order.status = target
        for name, value in fields.items():
            setattr(order, name, value)
    return bool(updated)

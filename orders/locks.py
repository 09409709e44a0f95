"""Every lock the orders app takes, and the one order they are taken in.

When a service holds several of these at once it takes them top to bottom, and rows of one kind
in primary-key order (the order feed imports lock items in too), so two workers never wait on
each other in a circle:

1. the inventory lock, shared (`inventory_lock_shared`): only a fulfillment decision, before any
   row. Imports and stock sweeps hold it alone while they rewrite stock rows and item totals;
2. the affiliate's row (`lock_affiliate`): a placement, so that the marketplace-number check and
   the placement are one step, and an idempotent placement with its key row;
3. orders (`lock_order`, `lock_orders`, `lock_processing_orders`): the order a service changes;
   the sweeps take due or stalled orders with SKIP LOCKED and never wait for one;
4. stock rows (`lock_stock_rows`): the warehouses' rows that accepted lines take from;
5. order lines (`lock_line`, `lock_open_lines`): only ever under their order's lock, so taking
   them before the items closes no cycle;
6. items (`lock_items`, `lock_item_ids`): last, held as briefly as possible; they are the rows a
   Cancel Request or a placement of the same part waits for.

Every row lock here is FOR NO KEY UPDATE (select_for_update(no_key=True)): none of these services
changes a key, and the weaker lock still excludes every other writer of the row but lets other
transactions insert rows that refer to it (an order line to its item, a ledger row to its
affiliate, an event to its order), whose foreign-key checks take FOR KEY SHARE. With FOR UPDATE,
a void refunding under an item lock could wait for a placement holding the affiliate, which could
be waiting for that item: a deadlock.
"""

from django.db.models import QuerySet

from affiliates.models import Affiliate
from inventory import locks as inventory_locks
from inventory.models import Item, Stock
from orders.models import Order, OrderLine


def inventory_lock_shared() -> None:
    """1. Shared with every other fulfillment decision, never with an import or a stock sweep.
    The advisory lock itself is inventory's (inventory/locks.py)."""
    inventory_locks.inventory_lock_shared()


def lock_affiliate(affiliate_id: int) -> Affiliate:
    """2. The affiliate's row, read whole: placements of one affiliate go one at a time."""
    return Affiliate.objects.select_for_update(no_key=True).get(pk=affiliate_id)


def lock_affiliate_only(affiliate_id: int) -> None:
    """2. The same lock, for a caller that needs the lock, not the row."""
    Affiliate.objects.select_for_update(no_key=True).only("pk").get(pk=affiliate_id)


def lock_order(order_id: int) -> Order:
    """3. One order, read with what a refund and an email of it need: its affiliate and its
    payment method. Only the order's row is locked (of=self): without it, FOR UPDATE also locked
    the affiliate's row, so every settle, pay and cancel of an affiliate waited for the others and
    for its placements. Rows that refer to the order, its events and attempts, can still be
    inserted while it is held."""
    return (
        Order.objects.select_for_update(no_key=True, of=("self",))
        .select_related("affiliate", "payment_method")
        .get(pk=order_id)
    )


def lock_orders(orders: QuerySet[Order], *, skip_locked: bool = False) -> QuerySet[Order]:
    """3. Many orders, in the order the caller's query gives (by primary key, or, for a sweep
    with skip_locked, by its deadline: a sweep never waits for an order another holds)."""
    return orders.select_for_update(skip_locked=skip_locked, no_key=True)


def lock_processing_orders(order_ids) -> set[int]:
    """3. The orders among these still processing, in primary-key order: a fulfillment decision."""
    return set(
        Order.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk__in=order_ids, status=Order.Status.PROCESSING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def lock_stock_rows(stock_ids) -> dict[int, int]:
    """4. Stock rows in primary-key order; what each has on hand now."""
    return dict(
        Stock.objects.select_for_update(no_key=True)
        .filter(pk__in=stock_ids)
        .order_by("pk")
        .values_list("pk", "qty")
    )


def lock_open_lines(line_ids) -> set[int]:
    """5. The lines among these still open (the caller holds their orders' locks)."""
    return set(
        OrderLine.objects.select_for_update(no_key=True)
        .filter(pk__in=line_ids, status=OrderLine.Status.OPEN)
        .order_by()
        .values_list("pk", flat=True)
    )


def lock_line(line_id: int, *, order: Order | None = None) -> OrderLine:
    """5. One line, read after it is locked (the caller holds its order's lock); given `order`,
    only a line of that order."""
    lines = order.lines if order is not None else OrderLine.objects
    return lines.select_for_update(no_key=True).get(pk=line_id)


def lock_items(item_ids) -> dict[int, Item]:
    """6. Items in primary-key order, the same order imports lock them in: no deadlocks."""
    return {
        item.pk: item
        for item in Item.objects.select_for_update(no_key=True)
        .filter(pk__in=set(item_ids))
        .order_by("pk")
    }


def lock_item_ids(item_ids) -> None:
    """6. lock_items for a caller that needs the locks, not the rows."""
    list(
        Item.objects.select_for_update(no_key=True)
        .filter(pk__in=set(item_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )

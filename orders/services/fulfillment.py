"""Fulfillment: deciding the lines of processing orders and settling the orders.

Orders are fulfilled in batches: the release sweep hands out up to FBS_FULFILLMENT_BATCH_SIZE
due orders per task. A batch asks the warehouses in rounds (routing: one connector call per
round, every undecided line to its next warehouse), then decides every line of the batch in one
transaction. Per order that is a few rows in a handful of statements instead of some thirty
statements of its own; one order is just a batch of one, through the same code.
"""

from collections import Counter

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from inventory.models import Item, Stock
from orders import emails, events
from orders.connectors import get_connector
from orders.locks import (
    inventory_lock_shared,
    lock_item_ids,
    lock_open_lines,
    lock_order,
    lock_processing_orders,
    lock_stock_rows,
)
from orders.models import Order, OrderLine, SourcingAttempt
from orders.services import routing
from orders.services._common import (
    LineStatus,
    Status,
    _commit_stock,
    _move,
    logger,
)
from orders.services.payment import (
    _refund,
)
from orders.services.routing import (
    _Routing,
)
from orders.transitions import After, check_line_move, check_order_move, order_status_from_lines
from payments.models import LedgerEntry


def order_fulfill(*, order_id: int) -> str | None:
    """Fulfill one order: order_fulfill_batch of one. Returns what the order became (None: it
    was not processing, or a line is still open)."""
    return order_fulfill_batch(order_ids=[order_id]).get(order_id)


def order_fulfill_batch(*, order_ids: list[int]) -> dict[int, str | None]:
    """Send every open line of these processing orders to a warehouse and settle the orders.
    Safe to run twice or concurrently: each line is decided by one compare-and-set under its
    order's lock, each warehouse answer is keyed.

    The warehouses are asked outside any transaction; misses and errors are recorded as they
    come; then one transaction decides every line of the batch (accepted where a warehouse took
    it, or voided and refunded) and settles the orders. A run that dies before that commit has
    decided nothing: the next run asks the same warehouses with the same keys and gets the same
    answers.

    If deciding the batch together fails for a reason other than the database's (a transient
    error is raised, for the task to retry the whole batch), each order is tried on its own, so
    that one bad order does not hold back the others; the one that still fails stays processing
    for the stalled-run sweep, and then Support."""
    try:
        return _fulfill(order_ids)
    except OperationalError:
        raise
    except Exception:
        if len(order_ids) == 1:
            raise
        logger.exception("Fulfilling %s orders together failed; one by one now", len(order_ids))
    results = {}
    for order_id in order_ids:
        try:
            results.update(_fulfill([order_id]))
        except OperationalError:
            raise
        except Exception:
            logger.exception(
                "Fulfilling order %s failed; the stalled-run sweep retries it", order_id
            )
            results[order_id] = None
    return results


def _fulfill(order_ids: list[int]) -> dict[int, str | None]:
    results: dict[int, str | None] = dict.fromkeys(order_ids)
    # The open lines of the orders still processing, with their orders, in one query.
    lines = list(
        OrderLine.objects.filter(
            order_id__in=order_ids, status=LineStatus.OPEN, order__status=Status.PROCESSING
        )
        .select_related("order")
        .order_by("order_id", "pk")
    )
    # Nothing left to route: a replayed task, or a run that died after its lines and before
    # its settle.
    routed = {line.order_id for line in lines}
    idle = Order.objects.filter(
        pk__in=[pk for pk in order_ids if pk not in routed], status=Status.PROCESSING
    )
    for order_id in idle.values_list("pk", flat=True):
        results[order_id] = order_settle(order_id=order_id)
    if lines:
        results.update(_lines_fulfill(lines, settle=True))
    return results


def order_line_route(*, line: OrderLine, order: Order) -> str:
    """Route one line on its own, without settling its order: the closest warehouse that
    stocks it first; on a miss, every other one with stock, whatever it costs; nobody: void and
    refund. Returns the line's new status."""
    line.order = order
    _lines_fulfill([line], settle=False)
    return OrderLine.objects.filter(pk=line.pk).values_list("status", flat=True).get()


def _lines_fulfill(lines: list[OrderLine], *, settle: bool) -> dict[int, str | None]:
    orders = {}
    for line in lines:
        line.order = orders.setdefault(line.order_id, line.order)
    routings = routing._route(
        get_connector(),
        lines,
        history=routing._sourcing_history(lines),
        candidates=routing._candidates(lines),
    )
    # An order with a line to void is decided in a transaction of its own: its refund goes
    # through the payment gateway, and the batch's locks are not held while it answers.
    voiding = {line.order_id for line in lines if routings[line.pk].accepted is None}
    results = _lines_decide(
        [line for line in lines if line.order_id not in voiding], routings, settle=settle
    )
    for order_id in sorted(voiding):
        own = [line for line in lines if line.order_id == order_id]
        results.update(_lines_decide(own, routings, settle=settle))
    return results


def _update_from_values(model, rows: list[tuple], set_sql: str, where: str = "", params=()):
    """One UPDATE of many rows of `model`, each with its own values, from a VALUES list: row
    values are v.column1 (the primary key), v.column2, ... (their names on PostgreSQL and SQLite
    alike). `params` fill the %s of `set_sql`, then of `where`. Django's bulk_update builds a
    CASE WHEN per row and column instead: for a batch of orders that was most of its time."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    row = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    set_count = set_sql.count("%s")
    with connection.cursor() as cursor:
        # The table name is the model's; set_sql and where are this module's constants; every
        # value is a parameter.
        cursor.execute(
            f"UPDATE {table} SET {set_sql} FROM (VALUES {', '.join([row] * len(rows))}) AS v "  # noqa: S608
            f"WHERE {table}.id = v.column1 {where}",
            [*params[:set_count], *(value for r in rows for value in r), *params[set_count:]],
        )


def _lines_decide(
    lines: list[OrderLine], routings: dict[int, _Routing], *, settle: bool
) -> dict[int, str | None]:
    """One transaction for the batch: each open line accepted where a warehouse took it (its
    attempt and event written with it, the stock and the commitment dropped together), or voided
    and refunded; with settle, every order whose lines are all decided moves to what they say.
    Returns, per order, what it became (None: not settled by this call)."""
    if not lines:
        return {}
    now = timezone.now()
    with transaction.atomic():
        inventory_lock_shared()
        # Orders, then stock rows, then items, each in primary-key order: the order every
        # service takes them in. Items are the rows a Cancel Request or a placement of the same
        # part waits for, so they are locked last, and held for as little as possible.
        processing = lock_processing_orders({line.order_id for line in lines})
        lines = [line for line in lines if line.order_id in processing]
        accepted = {line.pk: routings[line.pk].accepted for line in lines}
        accepted = {pk: stock for pk, stock in accepted.items() if stock is not None}
        on_hand = lock_stock_rows({stock.pk for stock in accepted.values()})
        # Another run may have decided a line meanwhile: it is placed nowhere else (what this
        # run's warehouse answered is still recorded). Lines are only ever locked under their
        # order's lock, so taking them before the items closes no cycle.
        still_open = lock_open_lines([line.pk for line in lines])
        answered = [line for line in lines if line.pk in accepted]
        lines = [line for line in lines if line.pk in still_open]
        won = [line for line in answered if line.pk in still_open]
        to_void = [line for line in lines if line.pk not in accepted]
        taken = _lines_accept(won, routings, on_hand, now)
        SourcingAttempt.objects.bulk_create(
            sorted((routings[line.pk].attempt for line in answered), key=lambda a: a.warehouse_id)
        )
        timelines = {order_id: [] for order_id in processing}
        for line in answered:
            timelines[line.order_id].append(routings[line.pk].event)
        results = {}
        if not to_void:
            results = _settle_and_write(processing, settle=settle, now=now, timelines=timelines)
        lock_item_ids({line.item_id for line in lines})
        _items_take(won, taken)
        if to_void:
            for line in to_void:
                _line_void(line, line.order, timeline=timelines[line.order_id])
            results = _settle_and_write(processing, settle=settle, now=now, timelines=timelines)
    return results


def _settle_and_write(order_ids, *, settle: bool, now, timelines: dict[int, list]) -> dict:
    results = _orders_settle_locked(order_ids, now=now, timelines=timelines) if settle else {}
    events.write([event for order_id in sorted(timelines) for event in timelines[order_id]])
    return results


def _lines_accept(
    won: list[OrderLine], routings: dict[int, _Routing], on_hand: dict[int, int], now
) -> dict[int, int]:
    """Accepted open lines, decided in one UPDATE for the lines and one for their stock rows.
    Returns what each line took from its stock row, for _items_take.

    The goods have left their warehouses: each stock row and its item's commitment drop
    together, so what is available does not move until the warehouse's next feed tells the
    truth. A warehouse may accept more than its last feed showed (another line took the rest
    meanwhile): stock never goes below zero, and the difference is left for the next feed."""
    taken, stock_taken = {}, Counter()
    for line in won:
        stock = routings[line.pk].accepted
        taken[line.pk] = min(on_hand.get(stock.pk, 0), line.qty)
        on_hand[stock.pk] = on_hand.get(stock.pk, 0) - taken[line.pk]
        stock_taken[stock.pk] += taken[line.pk]
    ops = connection.ops
    check_line_move(LineStatus.OPEN, LineStatus.FULFILLED)
    _update_from_values(
        OrderLine,
        [
            (
                line.pk,
                routings[line.pk].accepted.warehouse_id,
                ops.adapt_decimalfield_value(routings[line.pk].accepted.cost, 10, 2),
                routings[line.pk].second_source,
                ops.adapt_decimalfield_value(routings[line.pk].extra, 12, 2),
            )
            for line in won
        ],
        "status = %s, warehouse_id = v.column2, unit_cost = v.column3, "
        "second_sourced = v.column4, extra_cost = v.column5, decided_at = %s, committed = %s",
        "AND status = %s",
        [LineStatus.FULFILLED, ops.adapt_datetimefield_value(now), False, LineStatus.OPEN],
    )
    _update_from_values(Stock, list(stock_taken.items()), "qty = qty - v.column2")
    return taken


def _items_take(won: list[OrderLine], taken: dict[int, int]) -> None:
    """The items of accepted lines (locked by the caller): their stock drops by what was taken,
    their commitment by what was filled, in one UPDATE."""
    item_taken, item_filled = Counter(), Counter()
    for line in won:
        item_taken[line.item_id] += taken[line.pk]
        item_filled[line.item_id] += line.qty
    _update_from_values(
        Item,
        [(pk, item_taken[pk], filled) for pk, filled in item_filled.items()],
        "stock_qty = stock_qty - v.column2, committed_qty = committed_qty - v.column3, "
        "available_qty = available_qty - v.column2 + v.column3",
    )


def order_line_void(*, line: OrderLine, order: Order) -> str:
    """Nobody can fill the line: void it and refund it at once."""
    with transaction.atomic():
        return _line_void(line, order)


def _line_void(line: OrderLine, order: Order, *, timeline: list | None = None) -> str:
    """Void an open line and refund it. Its events are written at once, or, given a timeline,
    added to it for the caller to write with its own."""
    lock_item_ids([line.item_id])
    now = timezone.now()
    check_line_move(LineStatus.OPEN, LineStatus.VOIDED)
    won = OrderLine.objects.filter(pk=line.pk, status=LineStatus.OPEN).update(
        status=LineStatus.VOIDED,
        voided_at=now,
        decided_at=now,
        committed=False,
        # A special order voided again is refunded again: it no longer makes the line good.
        compensation=OrderLine.Compensation.NONE,
    )
    if not won:
        return OrderLine.objects.get(pk=line.pk).status
    _commit_stock({line.item_id: line.qty}, -1)
    line.status, line.committed = LineStatus.VOIDED, False
    line.compensation = OrderLine.Compensation.NONE
    line.voided_at = line.decided_at = now
    built = [events.line_voided(line, save=False)]
    # A line charged again by a reversal is refunded against that charge.
    _refund(
        order,
        amount=line.line_total,
        reference=line.charge_reference,
        key=f"order:{order.pk}:line:{line.pk}:void:{line.reversal_attempts_done}",
        kind=LedgerEntry.Kind.VOID,
        line=line,
        timeline=built,
    )
    if timeline is None:
        events.write(built)
    else:
        timeline.extend(built)
    emails.line_voided(order, line)
    return LineStatus.VOIDED


def order_settle(*, order_id: int) -> str | None:
    """When no line is open any more, move the order to what its lines say."""
    with transaction.atomic():
        return _settle_locked(lock_order(order_id))


def _settle_locked(order: Order, *, timeline: list | None = None) -> str | None:
    """order_settle, for a caller that holds the order's row lock (and read its status since).
    Given a timeline, its event is added there for the caller to write."""
    if order.status != Status.PROCESSING:
        return None
    target = order_status_from_lines(
        order.lines.values_list("status", flat=True), after=After.SOURCING
    )
    if target is None:
        return None
    status_from = order.status
    _move(order, target, decided_at=timezone.now(), processing_started_at=None)
    event = events.settled(order, status_from=status_from, save=timeline is None)
    if timeline is not None:
        timeline.append(event)
    return target


def _orders_settle_locked(order_ids, *, now, timelines: dict[int, list]) -> dict[int, str | None]:
    """_settle_locked for many processing orders whose row locks the caller holds: one UPDATE
    per status they move to; each settled event goes at the end of its order's timeline."""
    statuses = {order_id: set() for order_id in order_ids}
    lines = OrderLine.objects.filter(order_id__in=order_ids).order_by()
    for order_id, status in lines.values_list("order_id", "status"):
        statuses[order_id].add(status)
    results = {
        order_id: order_status_from_lines(found, after=After.SOURCING)
        for order_id, found in statuses.items()
    }
    for target in {t for t in results.values() if t is not None}:
        check_order_move(Status.PROCESSING, target)
        moving = [order_id for order_id, t in results.items() if t == target]
        Order.objects.filter(pk__in=moving, status=Status.PROCESSING).update(
            status=target, decided_at=now, processing_started_at=None
        )
        for order_id in moving:
            order = Order(pk=order_id, status=target)
            timelines[order_id].append(
                events.settled(order, status_from=Status.PROCESSING, save=False)
            )
    return results

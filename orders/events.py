"""The timeline. One small function per kind of event, called by the service that made it happen,
inside its transaction: an event exists exactly when its change does."""

from orders.models import Order, OrderEvent, OrderLine

Actor = OrderEvent.Actor


def _actor_for(user) -> str:
    if user is None:
        return Actor.SYSTEM
    return Actor.STAFF if user.is_staff else Actor.AFFILIATE


def record(
    order: Order,
    kind: str,
    message: str,
    *,
    actor: str = Actor.SYSTEM,
    user=None,
    line: OrderLine | None = None,
    status_from: str = "",
    status_to: str = "",
    save: bool = True,
    **data,
) -> OrderEvent:
    """One event; with save=False it is only built, for `write` to insert with others in one
    statement (still inside the transaction of the change it tells of)."""
    event = OrderEvent(
        order=order,
        line=line,
        kind=kind,
        actor=actor,
        user=user,
        message=message,
        status_from=status_from,
        status_to=status_to,
        data=data,
    )
    if save:
        event.save(force_insert=True)
    return event


def write(built: list[OrderEvent]) -> None:
    """Insert events built with save=False, in the order given (the timeline's order)."""
    OrderEvent.objects.bulk_create(built)


def placed(order, *, user):
    return record(
        order,
        "placed",
        f"Order placed: {order.lines.count()} line(s), ${order.total}.",
        actor=_actor_for(user),
        user=user,
        status_to=order.status,
    )


def paid(order, *, user, method_label: str, status_from: str):
    return record(
        order,
        "paid",
        f"Paid ${order.total} with {method_label}. Cancel window open until the release.",
        actor=_actor_for(user),
        user=user,
        status_from=status_from,
        status_to=Order.Status.QUEUED,
    )


def payment_declined(order, *, user, message: str):
    return record(
        order, "payment_declined", f"Payment declined: {message}", actor=_actor_for(user), user=user
    )


def cancel_requested(
    order, *, user, outcome: str, reason: str, status_from: str, save: bool = True
):
    won = outcome == "cancelled"
    return record(
        order,
        "cancel_request",
        f"Cancel Request {'won: order cancelled' if won else 'too late: already released'}."
        + (f" Reason: {reason}" if reason else ""),
        actor=_actor_for(user),
        user=user,
        status_from=status_from,
        status_to=Order.Status.CANCELLED if won else "",
        save=save,
        outcome=outcome,
    )


def refunded(order, *, amount, kind: str, line=None, save: bool = True):
    return record(
        order,
        "refund",
        f"{kind} of ${amount} sent back to the payment method.",
        line=line,
        save=save,
    )


def released(order_ids: list[int]) -> None:
    """The release sweep's events, one per order it released, in one statement."""
    write(
        [
            record(
                Order(pk=order_id),
                "released",
                "Cancel window closed: sent to fulfillment.",
                status_from=Order.Status.QUEUED,
                status_to=Order.Status.PROCESSING,
                save=False,
            )
            for order_id in order_ids
        ]
    )


def redispatched(order, *, runs: int, user=None):
    why = "restarted by Support" if user else "the last run stalled"
    return record(
        order,
        "redispatched",
        f"Fulfillment handed out again (run {runs}): {why}.",
        actor=_actor_for(user),
        user=user,
    )


def attention_cleared(order, *, user):
    return record(
        order,
        "attention_cleared",
        "Support cleared the needs-attention flag.",
        actor=_actor_for(user),
        user=user,
    )


def flagged(order, *, reason: str, save: bool = True):
    return record(order, "flagged", f"Flagged to Support: {reason}", save=save)


def sourcing(
    line,
    *,
    warehouse,
    outcome: str,
    second_source: bool,
    extra_cost,
    message: str,
    save: bool = True,
):
    what = "Second source" if second_source else "First choice"
    text = f"{what} {warehouse.code}: {message}"
    if second_source and outcome == "accepted" and extra_cost:
        text += f" FBS absorbs ${extra_cost} extra."
    return record(
        line.order,
        f"sourcing_{outcome}",
        text,
        actor=Actor.WAREHOUSE,
        line=line,
        warehouse=warehouse.code,
        save=save,
    )


def line_voided(line, *, save: bool = True):
    return record(
        line.order,
        "line_voided",
        f"{line} could not be filled anywhere: voided and ${line.line_total} refunded.",
        line=line,
        save=save,
    )


def settled(order, *, status_from: str, save: bool = True):
    return record(
        order,
        "settled",
        f"Every line decided: {order.get_status_display().lower()}.",
        status_from=status_from,
        status_to=order.status,
        save=save,
    )


def special_order_requested(line, *, user, status_from: str):
    return record(
        line.order,
        "special_order",
        f"Special order requested for {line}: it stays open until stock appears.",
        actor=_actor_for(user),
        user=user,
        line=line,
        status_from=status_from,
        status_to=line.order.status,
    )


def special_order_withdrawn(line, *, user, status_from: str):
    return record(
        line.order,
        "special_order_withdrawn",
        f"Special order for {line} withdrawn.",
        actor=_actor_for(user),
        user=user,
        line=line,
        status_from=status_from,
        status_to=line.order.status,
    )


def reversal(line, *, amount, status_from: str):
    return record(
        line.order,
        "reversal",
        f"Stock appeared for {line}: refund of ${amount} reversed (charged again); "
        "sent to fulfillment.",
        line=line,
        status_from=status_from,
        status_to=line.order.status,
    )


def reversal_failed(line, *, message: str):
    return record(
        line.order,
        "reversal_failed",
        f"Stock appeared for {line} but the charge failed ({message}). The special order stays "
        "open; update the payment method to let it go through.",
        line=line,
    )


def line_shipped(line):
    return record(
        line.order,
        "line_shipped",
        f"{line} shipped from {line.warehouse.code}, tracking {line.tracking_number}.",
        actor=Actor.WAREHOUSE,
        line=line,
    )


def shipped(order, *, status_from: str):
    return record(
        order,
        "shipped",
        "Every line is on its way.",
        actor=Actor.WAREHOUSE,
        status_from=status_from,
        status_to=Order.Status.SHIPPED,
    )

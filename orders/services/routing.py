"""Routing lines to warehouses: the closest that stocks a line first; on a miss, every other
one with stock, whatever it costs. Asked outside any transaction; misses and errors are
recorded as they come, acceptances are fulfillment's to record with the line's decision.
"""

import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from inventory.models import Stock
from orders import events
from orders.connectors import ConnectorError, Placement, PlacementRequest
from orders.geo import distance_key
from orders.models import Order, OrderEvent, OrderLine, SourcingAttempt
from payments.models import CENT


@dataclass
class _History:
    """What earlier runs recorded for a line's current cycle: the warehouses that answered (not
    asked again) and the first choice's cost (what a second source's extra cost is measured
    against)."""

    tried: dict[int, str] = field(default_factory=dict)
    first_cost: Decimal | None = None


@dataclass
class _Routing:
    """The warehouse that accepted a line (None: nobody did), with its attempt row and event,
    not written yet: they are written with the line's decision."""

    accepted: Stock | None = None
    attempt: SourcingAttempt | None = None
    event: OrderEvent | None = None
    second_source: bool = False
    extra: Decimal = Decimal("0.00")


def _sourcing_history(lines: list[OrderLine]) -> dict[int, _History]:
    """Every line's _History, in one query (a fresh line has none)."""
    cycles = {line.pk: line.reversal_attempts_done for line in lines}
    history = {pk: _History() for pk in cycles}
    rows = (
        SourcingAttempt.objects.filter(line_id__in=cycles)
        .order_by("pk")
        .values_list("line_id", "cycle", "warehouse_id", "outcome", "unit_cost")
    )
    for line_id, cycle, warehouse_id, outcome, unit_cost in rows:
        if cycle != cycles[line_id]:
            continue
        line_history = history[line_id]
        if line_history.first_cost is None:
            line_history.first_cost = unit_cost
        if outcome != SourcingAttempt.Outcome.ERROR:
            line_history.tried[warehouse_id] = outcome
    return history


def _candidates(lines: list[OrderLine]) -> dict[int, list[Stock]]:
    """Per line, the stock rows that count for its item, closest to its buyer first (then the
    cheapest), from one query for the whole batch. Lines of one item share the rows."""
    stock = Stock.objects.filter(
        item_id__in={line.item_id for line in lines},
        warehouse__counts_in_stock=True,
        qty__gte=min(line.qty for line in lines),
    ).select_related("warehouse")
    by_item = {line.item_id: [] for line in lines}
    for row in stock:
        by_item[row.item_id].append(row)
    distances = {}

    def closest_first(row: Stock, order: Order):
        where = (row.warehouse_id, order.ship_state, order.ship_postal_code)
        if where not in distances:
            distances[where] = distance_key(
                from_state=row.warehouse.state,
                from_postal=row.warehouse.postal_code,
                to_state=order.ship_state,
                to_postal=order.ship_postal_code,
            )
        return distances[where], row.cost, row.warehouse_id

    return {
        line.pk: sorted(by_item[line.item_id], key=lambda row: closest_first(row, line.order))
        for line in lines
    }


def _placement_key(line: OrderLine, stock: Stock) -> str:
    # One key per line, warehouse and cycle: asking again gets the first answer.
    return f"line:{line.pk}:wh:{stock.warehouse_id}:{line.reversal_attempts_done}"


def _route(
    connector,
    lines: list[OrderLine],
    *,
    history: dict[int, _History],
    candidates: dict[int, list[Stock]],
) -> dict[int, _Routing]:
    """Ask in rounds: each line still undecided goes to its next warehouse, the closest that
    stocks it first; on a miss, every other one with stock, whatever it costs, until one
    accepts. A round is one connector call for all its lines. Misses and errors are recorded as
    they come; acceptances are _lines_decide's to record. A line nobody accepts routes to None
    (void)."""
    # What each stock row still has for this run: a line asked for 2 counts them out for the
    # next line of the same item, and gives them back if the warehouse misses.
    left = {row.pk: row.qty for rows in candidates.values() for row in rows}
    first_cost = {line.pk: history[line.pk].first_cost for line in lines}
    asked_before = {line.pk: history[line.pk].first_cost is not None for line in lines}
    routings = {line.pk: _Routing() for line in lines}
    pending = lines
    while pending:
        asks = _next_asks(pending, history=history, candidates=candidates, left=left)
        if not asks:
            break
        pending, missed = [], []
        for (line, stock), placement in zip(asks, _ask(connector, asks), strict=True):
            second_source = asked_before[line.pk]
            asked_before[line.pk] = True
            if first_cost[line.pk] is None:
                first_cost[line.pk] = stock.cost
            if placement is None or not placement.accepted:
                left[stock.pk] += line.qty
                pending.append(line)
            if placement is None:
                continue  # did not answer (its errors are recorded): on to the next warehouse
            answer = _answer(line, stock, placement, second_source, first_cost[line.pk])
            if placement.accepted:
                routings[line.pk] = answer
            else:
                missed.append((answer.attempt, answer.event))
        _record_answers(missed)
    return routings


def _next_asks(pending, *, history, candidates, left) -> list[tuple[OrderLine, Stock]]:
    """This round's asks: each pending line to the first of its candidates not tried yet that
    still has its qty this run (counted out here). A line with nobody left is not asked."""
    asks = []
    for line in pending:
        tried = history[line.pk].tried
        stock = next(
            (
                row
                for row in candidates[line.pk]
                if row.warehouse_id not in tried and left[row.pk] >= line.qty
            ),
            None,
        )
        if stock is None:
            continue  # nobody left to ask
        tried[stock.warehouse_id] = "asked"
        left[stock.pk] -= line.qty
        asks.append((line, stock))
    return asks


def _answer(line, stock, placement, second_source: bool, first_cost: Decimal) -> _Routing:
    """A warehouse's answer for a line, as its attempt row and event (not written yet); an
    acceptance also says what it costs over the first choice."""
    extra = max(Decimal("0"), (stock.cost - first_cost) * line.qty).quantize(CENT)
    outcome = "accepted" if placement.accepted else "missed"
    attempt = SourcingAttempt(
        line=line,
        cycle=line.reversal_attempts_done,
        warehouse=stock.warehouse,
        outcome=outcome,
        second_source=second_source,
        unit_cost=stock.cost,
        extra_cost=extra if placement.accepted else Decimal("0"),
        message=placement.message,
    )
    event = events.sourcing(
        line,
        warehouse=stock.warehouse,
        outcome=outcome,
        second_source=second_source,
        extra_cost=extra,
        message=placement.message,
        save=False,
    )
    return _Routing(stock, attempt, event, second_source, extra)


def _ask(connector, asks: list[tuple[OrderLine, Stock]]) -> list[Placement | None]:
    """One round's asks, each tried FBS_CONNECTOR_TRIES times at most with doubling back-off
    while its warehouse does not answer; each error is on the timeline. None: never answered."""
    answers: list[Placement | None] = [None] * len(asks)
    waiting = list(range(len(asks)))
    tries = settings.FBS_CONNECTOR_TRIES
    for attempt in range(1, tries + 1):
        requests = [
            PlacementRequest(
                warehouse=asks[i][1].warehouse,
                line=asks[i][0],
                idempotency_key=_placement_key(*asks[i]),
            )
            for i in waiting
        ]
        try:
            replies = connector.place_many(requests)
        except ConnectorError as exc:
            # The call as a whole failed: every request in it did not answer.
            replies = [exc] * len(requests)
        errors, still = [], []
        for i, reply in zip(waiting, replies, strict=True):
            if not isinstance(reply, ConnectorError):
                answers[i] = reply
                continue
            line, stock = asks[i]
            still.append(i)
            errors.append(
                (
                    SourcingAttempt(
                        line=line,
                        cycle=line.reversal_attempts_done,
                        warehouse=stock.warehouse,
                        outcome=SourcingAttempt.Outcome.ERROR,
                        unit_cost=stock.cost,
                        message=str(reply)[:255],
                    ),
                    events.sourcing(
                        line,
                        warehouse=stock.warehouse,
                        outcome="error",
                        second_source=False,
                        extra_cost=None,
                        message=f"{reply} (try {attempt} of {tries})",
                        save=False,
                    ),
                )
            )
        _record_answers(errors)
        waiting = still
        if not waiting:
            break
        if attempt < tries:
            time.sleep(settings.FBS_CONNECTOR_BACKOFF_SECONDS * 2 ** (attempt - 1))
    return answers


def _record_answers(answers: list[tuple[SourcingAttempt, OrderEvent]]) -> None:
    """Misses and errors, written at once in a transaction of their own. Their foreign keys
    share-lock the warehouses' rows: taken in primary-key order, as the stock sweep and the
    imports lock warehouses, they cannot close a cycle with those."""
    if not answers:
        return
    with transaction.atomic():
        SourcingAttempt.objects.bulk_create(
            sorted((attempt for attempt, _ in answers), key=lambda a: a.warehouse_id)
        )
        events.write([event for _, event in answers])

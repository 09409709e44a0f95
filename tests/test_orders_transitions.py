"""The tables of allowed status moves (orders/transitions.py), walked: every move in them is
allowed, every other one is refused by the service helper that moves an order, and the one rule
that derives an order's status from its lines only ever asks for a move the table allows."""

from itertools import combinations, product

import pytest

from orders.errors import OrderStatusError
from orders.models import Order, OrderLine
from orders.services import _move
from orders.transitions import (
    LINE_TRANSITIONS,
    ORDER_TRANSITIONS,
    After,
    check_line_move,
    check_order_move,
    order_status_from_lines,
)
from tests.orders_helpers import affiliate_user, place, stock_up

Status = Order.Status
LineStatus = OrderLine.Status


def test_transition_tables_name_every_status_and_only_statuses():
    assert set(ORDER_TRANSITIONS) == set(Status.values)
    assert all(set(targets) <= set(Status.values) for targets in ORDER_TRANSITIONS.values())
    assert set(LINE_TRANSITIONS) == set(LineStatus.values)
    assert all(set(targets) <= set(LineStatus.values) for targets in LINE_TRANSITIONS.values())


@pytest.mark.parametrize(("source", "target"), list(product(Status.values, Status.values)))
def test_check_order_move_allows_exactly_the_table(source, target):
    if target in ORDER_TRANSITIONS[source]:
        check_order_move(source, target)
    else:
        with pytest.raises(OrderStatusError):
            check_order_move(source, target)


@pytest.mark.parametrize(("source", "target"), list(product(LineStatus.values, LineStatus.values)))
def test_check_line_move_allows_exactly_the_table(source, target):
    if target in LINE_TRANSITIONS[source]:
        check_line_move(source, target)
    else:
        with pytest.raises(OrderStatusError):
            check_line_move(source, target)


@pytest.mark.django_db
def test_move_makes_every_move_in_the_table_and_refuses_every_other():
    # given one order, put in each status in turn
    stock_up()
    order = place(affiliate_user(), pay=False)
    for source, target in product(Status.values, Status.values):
        Order.objects.filter(pk=order.pk).update(status=source)
        order.status = source
        # when the service helper is asked to move it
        if target in ORDER_TRANSITIONS[source]:
            # then a listed move is made, in the database too
            assert _move(order, target) is True
            assert Order.objects.get(pk=order.pk).status == target
        else:
            # and any other one is refused, and nothing changes
            with pytest.raises(OrderStatusError):
                _move(order, target)
            assert Order.objects.get(pk=order.pk).status == source


def _every_set_of_line_statuses():
    values = LineStatus.values
    for size in range(1, len(values) + 1):
        yield from (set(found) for found in combinations(values, size))


def test_order_status_after_sourcing_is_a_move_a_processing_order_may_make():
    for statuses in _every_set_of_line_statuses():
        target = order_status_from_lines(statuses, after=After.SOURCING)
        if LineStatus.OPEN in statuses:
            assert target is None, statuses
        else:
            assert target in ORDER_TRANSITIONS[Status.PROCESSING], statuses


def test_order_status_after_a_withdrawal_is_a_move_a_special_order_may_make():
    for statuses in _every_set_of_line_statuses():
        target = order_status_from_lines(statuses, after=After.SPECIAL_ORDER_WITHDRAWN)
        assert target == Status.SPECIAL_ORDER or target in ORDER_TRANSITIONS[Status.SPECIAL_ORDER]


def test_order_status_after_a_shipment_is_shipped_only_when_every_filled_line_shipped():
    for statuses in _every_set_of_line_statuses():
        target = order_status_from_lines(statuses, after=After.SHIPMENT)
        done = statuses <= {LineStatus.SHIPPED, LineStatus.VOIDED, LineStatus.CANCELLED}
        assert target == (Status.SHIPPED if done else None), statuses
        for source in (Status.FULFILLED, Status.PARTIALLY_VOIDED):
            assert Status.SHIPPED in ORDER_TRANSITIONS[source]


@pytest.mark.parametrize(
    ("statuses", "after", "expected"),
    [
        ({"open", "fulfilled"}, After.SOURCING, None),
        ({"fulfilled"}, After.SOURCING, Status.FULFILLED),
        ({"fulfilled", "shipped"}, After.SOURCING, Status.FULFILLED),
        ({"fulfilled", "voided"}, After.SOURCING, Status.PARTIALLY_VOIDED),
        ({"shipped", "voided"}, After.SOURCING, Status.PARTIALLY_VOIDED),
        ({"voided"}, After.SOURCING, Status.VOIDED),
        ({"voided", "special_order"}, After.SOURCING, Status.SPECIAL_ORDER),
        ({"voided", "special_order"}, After.SPECIAL_ORDER_WITHDRAWN, Status.SPECIAL_ORDER),
        ({"voided", "fulfilled"}, After.SPECIAL_ORDER_WITHDRAWN, Status.PARTIALLY_VOIDED),
        ({"voided", "shipped"}, After.SPECIAL_ORDER_WITHDRAWN, Status.SHIPPED),
        ({"voided"}, After.SPECIAL_ORDER_WITHDRAWN, Status.CANCELLED),
        ({"shipped", "voided"}, After.SHIPMENT, Status.SHIPPED),
        ({"shipped", "fulfilled"}, After.SHIPMENT, None),
    ],
)
def test_order_status_from_lines(statuses, after, expected):
    assert order_status_from_lines(statuses, after=after) == expected

"""Cancel Request against the release, at the same instant, on PostgreSQL with real threads."""

import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from affiliates.models import Affiliate
from inventory.models import Item
from orders import services
from orders.models import Order
from payments.models import LedgerEntry
from tests.factories import CardFactory, UserFactory, import_feed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 200


def test_cancel_and_release_race_exactly_one_wins_every_time():
    import_feed("WH1", [("ACD", "P1", 100_000, "5.00")])
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)
    ship = {
        "name": "A",
        "address1": "1 St",
        "city": "Austin",
        "state": "TX",
        "postal_code": "73301",
    }
    orders = [
        services.order_place(
            affiliate=user.affiliate,
            user=user,
            marketplace="ebay",
            marketplace_order_id=f"R-{n}",
            ship_to=ship,
            lines=[{"line_code": "ACD", "part_number": "P1", "qty": 1}],
        )
        for n in range(ROUNDS)
    ]
    # None is due yet; each round makes one order due and races its cancel against the sweep.
    Order.objects.update(release_at=timezone.now() + timedelta(days=1))
    outcomes = []

    for order in orders:
        Order.objects.filter(pk=order.pk).update(release_at=timezone.now() - timedelta(seconds=1))
        barrier = threading.Barrier(2)
        result = {}

        def cancel(order=order, result=result, barrier=barrier):
            barrier.wait()
            result["cancel"] = services.order_cancel_request(order=order, user=user)
            connection.close()

        def release(result=result, barrier=barrier):
            barrier.wait()
            result["released"] = services.order_release_due()
            connection.close()

        threads = [threading.Thread(target=cancel), threading.Thread(target=release)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        outcomes.append((order.pk, result["cancel"], order.pk in result["released"]))

    cancelled = released = 0
    for order_id, cancel_outcome, was_released in outcomes:
        order = Order.objects.get(pk=order_id)
        kinds = sorted(LedgerEntry.objects.filter(order=order).values_list("kind", flat=True))
        if cancel_outcome == "cancelled":
            cancelled += 1
            assert not was_released
            assert order.status == Order.Status.CANCELLED
            assert kinds == ["charge", "refund"]
        else:
            released += 1
            assert was_released
            assert order.status == Order.Status.PROCESSING
            assert kinds == ["charge"]
            assert order.events.filter(kind="cancel_request", data__outcome="too_late").exists()
    assert cancelled + released == ROUNDS
    # Committed stock is exactly the released, not yet fulfilled, orders.
    assert Item.objects.get(part_number="P1").committed_qty == released
    print(f"race: {cancelled} cancels won, {released} releases won")  # noqa: T201


def _one_paid_order():
    """An affiliate with a card, and one order of it, paid and queued."""
    import_feed("WH1", [("ACD", "P1", 10, "5.00")])
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)
    order = services.order_place(
        affiliate=user.affiliate, user=user, marketplace="ebay", marketplace_order_id="O-1",
        ship_to={"name": "A", "address1": "1 St", "city": "Austin", "state": "TX",
                 "postal_code": "73301"},
        lines=[{"line_code": "ACD", "part_number": "P1", "qty": 1}],
    )  # fmt: skip
    return user, order


def test_an_order_lock_leaves_its_affiliate_free():
    # given an order of an affiliate locked by a service (as a cancel or a settle locks it)
    user, order = _one_paid_order()
    outcome = {}

    def lock_the_affiliate():
        # when another transaction locks the affiliate without waiting (as a placement does)
        try:
            with transaction.atomic():
                Affiliate.objects.select_for_update(nowait=True).get(pk=user.affiliate_id)
            outcome["locked"] = True
        except DatabaseError as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    with transaction.atomic():
        locked = services._lock_order(order.pk)
        thread = threading.Thread(target=lock_the_affiliate)
        thread.start()
        thread.join(timeout=30)

    # then it gets it: an order's lock does not hold its affiliate's row
    assert outcome == {"locked": True}
    assert locked.affiliate == user.affiliate  # read with the order, all the same


def test_cancel_request_of_a_released_order_answers_while_a_fulfillment_run_holds_it():
    # given a released order whose row a fulfillment run holds while it decides the lines
    user, order = _one_paid_order()
    services.order_release_due(now=order.release_at + timedelta(seconds=1))
    held, done = threading.Event(), threading.Event()
    answer = {}

    def fulfillment_run():
        with transaction.atomic():
            services._lock_order(order.pk)
            held.set()
            done.wait(timeout=30)
        connection.close()

    def cancel():
        answer["outcome"] = services.order_cancel_request(order=order, user=user, reason="late")
        connection.close()

    holder = threading.Thread(target=fulfillment_run)
    holder.start()
    assert held.wait(timeout=30)

    # when the affiliate sends a Cancel Request meanwhile
    canceller = threading.Thread(target=cancel)
    canceller.start()
    canceller.join(timeout=10)
    answered_while_held = not canceller.is_alive()
    done.set()
    holder.join(timeout=30)
    canceller.join(timeout=30)

    # then the answer, too late, came without waiting for that run, and is on the timeline
    assert answered_while_held
    assert answer == {"outcome": "too_late"}
    assert order.events.filter(kind="cancel_request", data__outcome="too_late").count() == 1

"""The database connection dropped in the middle of a release sweep, on PostgreSQL."""

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, connections
from django.utils import timezone

from orders import events, services
from orders.models import Order, OrderEvent
from tests.factories import CardFactory, UserFactory, import_feed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SHIP = {"name": "A", "address1": "1 St", "city": "Austin", "state": "TX", "postal_code": "73301"}


def test_connection_killed_during_a_sweep_releases_nothing_and_the_next_sweep_releases_once(
    monkeypatch,
):
    import_feed("WH1", [("ACD", "P1", 100, "5.00")])
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)
    ids = [
        services.order_place(
            affiliate=user.affiliate,
            user=user,
            marketplace="ebay",
            marketplace_order_id=f"D-{n}",
            ship_to=SHIP,
            lines=[{"line_code": "ACD", "part_number": "P1", "qty": 1}],
        ).pk
        for n in range(5)
    ]
    Order.objects.filter(pk__in=ids).update(release_at=timezone.now() - timedelta(seconds=1))

    # given a sweep stopped half-way through its transaction (after the status update)
    inside, go_on = threading.Event(), threading.Event()
    real_released = events.released
    sweep_pid = {}
    outcome = {}

    def released_then_wait(order):
        if not inside.is_set():
            sweep_pid["pid"] = connection.connection.info.backend_pid
            inside.set()
            go_on.wait(timeout=30)
        return real_released(order)

    monkeypatch.setattr(events, "released", released_then_wait)

    def sweep():
        try:
            outcome["released"] = services.order_release_due()
        except OperationalError as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=sweep)
    thread.start()
    assert inside.wait(timeout=30)

    # when its database connection is killed
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [sweep_pid["pid"]])
    go_on.set()
    thread.join(timeout=30)

    # then nothing of that sweep stayed: every order is still queued, no event, no task
    assert "error" in outcome
    assert set(Order.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"queued"}
    assert not OrderEvent.objects.filter(order__in=ids, kind="released").exists()

    # and the next sweep releases each of them, once
    monkeypatch.setattr(events, "released", real_released)
    assert sorted(services.order_release_due()) == sorted(ids)
    assert services.order_release_due() == []
    assert OrderEvent.objects.filter(order__in=ids, kind="released").count() == len(ids)

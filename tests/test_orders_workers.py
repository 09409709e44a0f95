"""Several real worker processes, and one killed in the middle of its work."""

import os
import signal

import pytest
from django.db.models import Count
from django.utils import timezone

from orders import services
from orders.models import Order, OrderEvent, SourcingAttempt
from payments.models import LedgerEntry
from tests.celery_processes import celery_processes, wait_for
from tests.factories import CardFactory, UserFactory, import_feed

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]

SHIP = {"name": "A", "address1": "1 St", "city": "Austin", "state": "TX", "postal_code": "73301"}


def place_many(count: int) -> list[int]:
    import_feed("WH1", [("ACD", f"P{n}", 10_000, "5.00") for n in range(5)])
    import_feed("WH2", [("ACD", f"P{n}", 10_000, "6.00") for n in range(5)])
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)
    ids = []
    for n in range(count):
        order = services.order_place(
            affiliate=user.affiliate,
            user=user,
            marketplace="ebay",
            marketplace_order_id=f"S-{n}",
            ship_to=SHIP,
            lines=[{"line_code": "ACD", "part_number": f"P{n % 5}", "qty": 1}],
        )
        ids.append(order.pk)
    return ids


def assert_each_settled_once(ids):
    orders = Order.objects.filter(pk__in=ids)
    assert set(orders.values_list("status", flat=True)) <= {"fulfilled", "voided"}
    released = (
        OrderEvent.objects.filter(order__in=ids, kind="released")
        .values("order")
        .annotate(n=Count("id"))
    )
    assert {row["n"] for row in released} == {1}
    settled = (
        OrderEvent.objects.filter(order__in=ids, kind="settled")
        .values("order")
        .annotate(n=Count("id"))
    )
    assert len(settled) == len(ids)
    assert {row["n"] for row in settled} == {1}
    accepted = SourcingAttempt.objects.filter(line__order__in=ids, outcome="accepted")
    assert accepted.count() == orders.filter(status="fulfilled").count()
    charges = LedgerEntry.objects.filter(order__in=ids, kind="charge")
    assert charges.count() == len(ids)
    voids = LedgerEntry.objects.filter(order__in=ids, kind="void").count()
    assert voids == orders.filter(status="voided").count()


# 200 in CI; RELIABILITY.md records a run at the full count (FBS_SCALE_OUT_ORDERS=2000).
SCALE_OUT_ORDERS = int(os.environ.get("FBS_SCALE_OUT_ORDERS", "200"))


def test_two_workers_and_beat_release_each_due_order_exactly_once():
    ids = place_many(SCALE_OUT_ORDERS)
    Order.objects.filter(pk__in=ids).update(release_at=timezone.now())

    with celery_processes(workers=2, FBS_RELEASE_SWEEP_SECONDS=0.3, FBS_SANDBOX_MISS_RATE=0.05):
        wait_for(
            lambda: (
                not Order.objects.filter(pk__in=ids, status__in=["queued", "processing"]).exists()
            ),
            timeout=180 + SCALE_OUT_ORDERS // 10,
            what=f"{SCALE_OUT_ORDERS} orders settled by two workers",
        )

    assert_each_settled_once(ids)


def test_worker_killed_mid_fulfillment_every_order_still_ends_once(settings):
    ids = place_many(6)
    Order.objects.filter(pk__in=ids).update(release_at=timezone.now())
    slow = {
        "FBS_SANDBOX_LATENCY_SECONDS": 2,
        "FBS_PROCESSING_TIMEOUT_SECONDS": 4,
        "FBS_RELEASE_SWEEP_SECONDS": 0.5,
    }

    # when a worker is killed with SIGKILL while it waits on a warehouse
    with celery_processes(workers=1, beat=True, **slow) as processes:
        wait_for(
            lambda: (
                SourcingAttempt.objects.filter(line__order__in=ids).exists()
                or Order.objects.filter(pk__in=ids, status="processing").count() == len(ids)
            ),
            timeout=60,
            what="fulfillment under way",
        )
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait(timeout=10)
    assert Order.objects.filter(pk__in=ids, status="processing").exists()

    # then a new worker (and the stalled-run sweep) finishes every order, exactly once
    with celery_processes(workers=1, beat=True, **slow):
        wait_for(
            lambda: not Order.objects.filter(pk__in=ids, status="processing").exists(),
            timeout=120,
            what="orders finished after the kill",
        )

    assert_each_settled_once(ids)
    assert OrderEvent.objects.filter(order__in=ids, kind="redispatched").exists()

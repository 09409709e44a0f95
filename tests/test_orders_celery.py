"""The real thing: Celery worker and beat processes on Redis and PostgreSQL, a window of seconds."""

import pytest

from orders import services
from orders.models import Order
from payments.models import LedgerEntry
from tests.celery_processes import celery_processes, wait_for
from tests.factories import CardFactory, UserFactory, import_feed

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]

SHIP = {"name": "A", "address1": "1 St", "city": "Austin", "state": "TX", "postal_code": "73301"}
WINDOW = 3  # seconds: the published 30 minutes, shortened through the setting


def place(user, n):
    return services.order_place(
        affiliate=user.affiliate, user=user, marketplace="ebay",
        marketplace_order_id=f"C-{n}", ship_to=SHIP,
        lines=[{"line_code": "ACD", "part_number": "P1", "qty": 1}],
    )  # fmt: skip


def status(order):
    return Order.objects.values_list("status", flat=True).get(pk=order.pk)


def test_worker_and_beat_release_fulfill_and_cancel_by_the_window(settings):
    settings.FBS_CANCEL_WINDOW_SECONDS = WINDOW
    import_feed("WH1", [("ACD", "P1", 50, "5.00")])
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)

    with celery_processes(
        FBS_CANCEL_WINDOW_SECONDS=WINDOW, FBS_RELEASE_SWEEP_SECONDS=0.5, FBS_SANDBOX_MISS_RATE=0
    ):
        released = place(user, 1)
        cancelled_in_time = place(user, 2)
        too_late = place(user, 3)

        # a cancel inside the window wins
        assert services.order_cancel_request(order=cancelled_in_time, user=user) == "cancelled"

        # beat releases the others when the window closes; the worker fulfills them
        wait_for(lambda: status(released) == "fulfilled", timeout=60, what="fulfillment")
        wait_for(lambda: status(too_late) != "queued", timeout=30, what="release")

        # a cancel after the window is too late
        assert services.order_cancel_request(order=too_late, user=user) == "too_late"
        wait_for(lambda: status(too_late) == "fulfilled", timeout=30, what="fulfillment")

    assert status(cancelled_in_time) == "cancelled"
    for order in (released, too_late):
        kinds = list(LedgerEntry.objects.filter(order=order).values_list("kind", flat=True))
        assert kinds == ["charge"]
        assert Order.objects.get(pk=order.pk).events.filter(kind="released").count() == 1


def _worker_connections() -> set[int]:
    """The PostgreSQL backends of the test database other than this test's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_worker_keeps_its_database_connection_from_task_to_task(settings):
    # given a worker that keeps connections for a minute, as production does (CONN_MAX_AGE)
    settings.FBS_CANCEL_WINDOW_SECONDS = 1
    import_feed("WH1", [("ACD", "P1", 50, "5.00")])
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)

    with celery_processes(
        CONN_MAX_AGE=60, FBS_CANCEL_WINDOW_SECONDS=1, FBS_RELEASE_SWEEP_SECONDS=0.5
    ):
        first = [place(user, n) for n in range(3)]
        wait_for(lambda: {status(o) for o in first} == {"fulfilled"}, what="fulfillment")
        # when it has run its tasks, its connection is still open (Celery would close it)...
        kept = wait_for(_worker_connections, timeout=10, what="a connection kept open")

        second = [place(user, n) for n in range(3, 6)]
        wait_for(lambda: {status(o) for o in second} == {"fulfilled"}, what="fulfillment")

        # then the same connection served the next tasks: no new connection per task
        assert kept & _worker_connections()

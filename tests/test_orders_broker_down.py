"""Redis stops while affiliates place, pay and cancel: the site keeps answering, and due orders
are released once Redis is back. Runs its own Redis on a spare port, so stopping it harms nobody."""

import shutil
import socket
import subprocess
import time

import pytest
from django.utils import timezone

from affiliates.services import api_key_create
from orders.models import Order, OrderEvent
from payments.models import LedgerEntry
from tests.celery_processes import celery_processes, wait_for
from tests.factories import CardFactory, UserFactory, import_feed

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]

WINDOW = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("redis-server did not start")


def order_body(n: int) -> dict:
    return {
        "marketplace": "ebay",
        "marketplace_order_id": f"B-{n}",
        "ship_to": {"name": "A", "address1": "1 St", "city": "Austin", "state": "TX",
                    "postal_code": "73301", "country": "US"},
        "lines": [{"line_code": "ACD", "part_number": "P1", "qty": 1}],
    }  # fmt: skip


def test_broker_down_site_keeps_answering_and_due_orders_release_when_it_is_back(
    api_client, client, settings
):
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed")
    settings.FBS_CANCEL_WINDOW_SECONDS = WINDOW
    import_feed("WH1", [("ACD", "P1", 1000, "5.00")])
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)
    _, raw = api_key_create(user=user, name="t")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.force_login(user)
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    redis = start_redis(port)
    try:
        with celery_processes(
            CELERY_BROKER_URL=broker,
            FBS_CANCEL_WINDOW_SECONDS=WINDOW,
            FBS_RELEASE_SWEEP_SECONDS=0.5,
        ):
            before = api_client.post("/api/v1/orders", order_body(0), format="json").json()
            wait_for(lambda: Order.objects.get(pk=before["id"]).status == "fulfilled",
                     timeout=60, what="the first order fulfilled")  # fmt: skip

            # when Redis goes away
            redis.terminate()
            redis.wait(timeout=10)

            # then orders are still taken, paid and cancelled, and pages answer
            placed = api_client.post("/api/v1/orders", order_body(1), format="json")
            to_cancel = api_client.post("/api/v1/orders", order_body(2), format="json").json()
            cancel = api_client.post(f"/api/v1/orders/{to_cancel['id']}/cancel-request", {})
            assert placed.status_code == 201
            assert placed.json()["status"] == "queued"
            assert cancel.json()["outcome"] == "cancelled"
            assert client.get("/orders/").status_code == 200
            assert client.get("/catalog/").status_code == 200
            due = Order.objects.get(pk=placed.json()["id"])
            wait_for(lambda: timezone.now() > due.release_at, timeout=30, what="the window")
            assert Order.objects.get(pk=due.pk).status == "queued"  # nobody could release it

            # when Redis is back, the due order is released and fulfilled, once
            redis = start_redis(port)
            wait_for(lambda: Order.objects.get(pk=due.pk).status == "fulfilled",
                     timeout=90, what="release after Redis returned")  # fmt: skip
    finally:
        redis.terminate()
        redis.wait(timeout=10)

    assert Order.objects.get(pk=to_cancel["id"]).status == "cancelled"
    assert OrderEvent.objects.filter(order=due, kind="released").count() == 1
    assert LedgerEntry.objects.filter(order=due, kind="charge").count() == 1
    assert not LedgerEntry.objects.filter(order=due, kind__in=["refund", "void"]).exists()

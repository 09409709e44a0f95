from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.models import Order, OrderEvent
from payments.models import LedgerEntry
from tests.factories import CardFactory, StaffFactory, UserFactory, import_feed

pytestmark = pytest.mark.django_db

LIST = "/admin/orders/order/"


def change_url(order) -> str:
    return f"/admin/orders/order/{order.pk}/change/"


@pytest.fixture
def placed():
    """A paid order, queued in its cancel window."""
    import_feed("WH1", [("ACD", "P1", 10, "5.00")])
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)
    return services.order_place(
        affiliate=user.affiliate,
        user=user,
        marketplace="ebay",
        marketplace_order_id="12-34567-89012",
        ship_to={
            "name": "Pat Buyer",
            "address1": "1 Main St",
            "city": "Dallas",
            "state": "TX",
            "postal_code": "75201",
        },
        lines=[{"line_code": "ACD", "part_number": "P1", "qty": 2}],
    )


@pytest.fixture
def support(client):
    staff = StaffFactory(group="Support")
    client.force_login(staff)
    return staff


def run_action(client, action, *orders):
    return client.post(
        LIST, {"action": action, "_selected_action": [o.pk for o in orders]}, follow=True
    )


def test_admin_support_sees_order_lists_and_the_order_page(client, support, placed):
    services.order_release_due(now=timezone.now() + timedelta(hours=1))
    services.order_fulfill(order_id=placed.pk)
    line = placed.lines.get()
    year = timezone.localdate().year

    for url in (
        LIST,
        f"{LIST}?status__exact=processing",
        f"{LIST}?needs_attention__exact=1",
        f"{LIST}?affiliate__id__exact={placed.affiliate_id}",
        f"{LIST}?created_at__year={year}",
        "/admin/orders/orderline/?status__exact=fulfilled&second_sourced__exact=0",
        f"/admin/orders/orderline/{line.pk}/change/",
        "/admin/orders/sourcingattempt/?outcome__exact=accepted",
    ):
        assert client.get(url).status_code == 200, url
    page = client.get(change_url(placed)).content.decode()
    assert placed.number in page
    assert "WH1" in page  # the line's warehouse
    assert "Timeline" in page
    assert "Cancel window closed" in page  # a timeline event
    assert f"order:{placed.pk}:charge" in page  # its ledger row


@pytest.mark.parametrize("term", ["FBS-{pk:07d}", "{pk}", "12-34567-89012", "{affiliate}"])
def test_admin_order_search(client, support, placed, term):
    term = term.format(pk=placed.pk, affiliate=placed.affiliate.name)

    response = client.get(LIST, {"q": term})

    assert f"{placed.pk}/change/" in response.content.decode()


def test_admin_order_search_misses(client, support, placed):
    response = client.get(LIST, {"q": "no-such-order"})

    assert f"{placed.pk}/change/" not in response.content.decode()


def test_admin_cancel_request_action_cancels_refunds_and_writes_the_timeline(
    client, support, placed
):
    response = run_action(client, "cancel_request", placed)

    placed.refresh_from_db()
    assert placed.status == Order.Status.CANCELLED
    assert "Cancelled" in response.content.decode()
    event = OrderEvent.objects.get(order=placed, kind="cancel_request")
    assert (event.actor, event.user) == (OrderEvent.Actor.STAFF, support)
    assert LedgerEntry.objects.filter(order=placed, kind=LedgerEntry.Kind.REFUND).count() == 1


def test_admin_cancel_request_action_after_release_is_too_late(client, support, placed):
    services.order_release_due(now=timezone.now() + timedelta(hours=1))

    response = run_action(client, "cancel_request", placed)

    placed.refresh_from_db()
    assert placed.status == Order.Status.PROCESSING
    assert "Too late" in response.content.decode()
    assert OrderEvent.objects.get(order=placed, kind="cancel_request").data == {
        "outcome": "too_late"
    }


def test_admin_restart_fulfillment_queues_a_processing_order(
    client, support, placed, celery_sent, django_capture_on_commit_callbacks
):
    services.order_release_due(now=timezone.now() + timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(client, "restart_fulfillment", placed)

    assert ("orders.tasks.order_fulfill_batch_task", ([placed.pk],), {}) in celery_sent
    assert f"Queued for fulfillment: {placed.number}" in response.content.decode()
    event = OrderEvent.objects.get(order=placed, kind="redispatched")
    assert (event.actor, event.user) == (OrderEvent.Actor.STAFF, support)


def test_admin_restart_fulfillment_skips_orders_that_are_not_processing(client, support, placed):
    response = run_action(client, "restart_fulfillment", placed)

    placed.refresh_from_db()
    assert placed.status == Order.Status.QUEUED
    assert "skipped" in response.content.decode()


def test_admin_clear_needs_attention(client, support, placed):
    Order.objects.filter(pk=placed.pk).update(needs_attention=True)

    run_action(client, "clear_needs_attention", placed)

    placed.refresh_from_db()
    assert placed.needs_attention is False
    event = OrderEvent.objects.get(order=placed, kind="attention_cleared")
    assert event.user == support


def test_admin_order_page_has_no_editable_field_and_cannot_be_saved(client, support, placed):
    page = client.get(change_url(placed)).content.decode()
    post = client.post(change_url(placed), {"status": "cancelled", "needs_attention": "on"})

    assert 'name="status"' not in page
    assert 'name="_save"' not in page
    assert post.status_code == 403
    placed.refresh_from_db()
    assert placed.status == Order.Status.QUEUED
    assert client.get("/admin/orders/order/add/").status_code == 403
    assert client.post(f"/admin/orders/order/{placed.pk}/delete/").status_code == 403


def test_admin_finance_reads_orders_but_cannot_run_actions(client, placed):
    client.force_login(StaffFactory(group="Finance"))

    listing = client.get(LIST)
    page = client.get(change_url(placed))
    response = run_action(client, "cancel_request", placed)

    assert listing.status_code == 200
    assert 'name="action"' not in listing.content.decode()
    assert page.status_code == 200
    assert response.status_code == 200
    placed.refresh_from_db()
    assert placed.status == Order.Status.QUEUED
    assert not OrderEvent.objects.filter(order=placed, kind="cancel_request").exists()


def test_admin_refuses_affiliate_users(client, placed):
    client.force_login(UserFactory(affiliate=placed.affiliate))

    for url in (LIST, change_url(placed)):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/admin/login/")
    response = run_action(client, "cancel_request", placed)
    placed.refresh_from_db()
    assert placed.status == Order.Status.QUEUED

"""Real Chromium: an affiliate places an order and cancels it in the window; a Cancel Request
after the release is too late; the countdown and the live refresh of Order Management.

No test waits for real time: the window is released by calling the sweep with a later `now`, and
the browser's clock is frozen or moved forward by Playwright where the page's timers matter.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from orders import emails, services
from orders.models import Order
from tests.orders_helpers import affiliate_user, place, stock_up
from tests.test_browser_settings import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_browser_affiliate_places_an_order_and_cancels_it_from_order_management(
    page: Page, live_server
):
    stock_up()
    user = affiliate_user()
    log_in(page, live_server, user.username)

    # given an order placed on the New order page
    page.locator("#nav").get_by_role("link", name="Orders").click()
    page.get_by_role("link", name="New order").first.click()
    page.get_by_label("Marketplace order number").fill("12-34567-89012")
    page.get_by_label("Name").fill("Ann Buyer")
    page.get_by_label("Address", exact=True).fill("1 Main St")
    page.get_by_label("City").fill("Plano")
    page.get_by_label("State").fill("TX")
    page.get_by_label("ZIP code").fill("75024")
    page.get_by_label("Line 1 line code").fill("ACD")
    page.get_by_label("Line 1 part number").fill("P1")
    page.get_by_label("Line 1 qty").fill("2")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("alert").first).to_contain_text("is placed and paid")
    order = Order.objects.get(marketplace_order_id="12-34567-89012")
    assert order.status == Order.Status.QUEUED

    # when the affiliate sends a Cancel Request from Order Management, with a reason
    page.locator("#nav").get_by_role("link", name="Orders").click()
    row = page.locator(f'[data-order-row="{order.pk}"]')
    expect(row).to_contain_text("left to cancel")
    row.get_by_role("button", name=re.compile("Supplier")).click()
    row.get_by_role("link", name="Cancel Request").click()
    dialog = page.locator("#cancel-modal")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Cancel Request for {order.number}")
    dialog.get_by_label("Reason").select_option("Buyer cancelled on the marketplace")
    dialog.get_by_label("Details").fill("buyer wrote at 9:05")
    dialog.get_by_role("button", name="Send Cancel Request").click()

    # then it is cancelled and refunded
    outcome = page.locator("#cancel-outcome")
    expect(outcome).to_contain_text(f"{order.number} is cancelled")
    expect(outcome).to_contain_text(f"${order.total} is refunded")
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.events.get(kind="cancel_request").message.endswith(
        "Reason: Buyer cancelled on the marketplace: buyer wrote at 9:05"
    )


def test_browser_cancel_request_after_the_release_is_too_late_with_the_buyer_message(
    page: Page, live_server, settings
):
    settings.FBS_CANCEL_WINDOW_SECONDS = 2
    stock_up()
    user = affiliate_user()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, live_server, user.username)
    order = place(user)
    # The browser's clock stands still: the page's countdown cannot reach zero by itself and
    # take the button away; only the server decides, as it does for a real last-second click.
    page.clock.set_fixed_time(timezone.now())

    # given the order page open while the order is still in the window
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    cancel = page.get_by_role("link", name="Cancel Request…")
    expect(cancel).to_be_visible()

    # when the window closes and the sweep sends the order to the warehouse...
    released = services.order_release_due(now=timezone.now() + timedelta(seconds=5))
    assert released == [order.pk]
    # ...and only then the affiliate sends the Cancel Request
    cancel.click()
    dialog = page.locator("#cancel-modal")
    dialog.get_by_label("Reason").select_option("Buyer changed their mind")
    dialog.get_by_role("button", name="Send Cancel Request").click()

    # then it is too late, and the page gives the words for the buyer
    outcome = page.locator("#cancel-outcome")
    expect(outcome).to_contain_text(f"Too late: {order.number} has already gone to the warehouse")
    expect(outcome).to_contain_text("refuse the delivery")
    message = page.get_by_label("A message you can send your buyer")
    expect(message).to_have_value(emails.BUYER_MESSAGE_TOO_LATE)
    expect(message).not_to_be_editable()
    page.get_by_role("button", name="Copy message").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == emails.BUYER_MESSAGE_TOO_LATE
    order.refresh_from_db()
    assert order.status == Order.Status.PROCESSING
    assert order.events.filter(kind="cancel_request", data__outcome="too_late").count() == 1


def test_browser_countdown_at_zero_takes_cancel_request_away(page: Page, live_server):
    stock_up()
    user = affiliate_user()
    log_in(page, live_server, user.username)
    order = place(user)
    page.clock.install(time=timezone.now())

    page.goto(f"{live_server.url}/orders/{order.pk}/")
    countdown = page.locator("#order-state [data-countdown-clock]")
    expect(countdown).to_have_text(re.compile(r"^(29:\d\d|30:00)$"))
    expect(page.get_by_role("link", name="Cancel Request…")).to_be_visible()

    # when the browser's clock passes the end of the window
    page.clock.fast_forward("30:01")

    expect(countdown).to_have_text("Releasing…")
    expect(page.get_by_role("link", name="Cancel Request…")).to_be_hidden()


def test_browser_order_management_refreshes_itself(page: Page, live_server):
    stock_up()
    user = affiliate_user()
    log_in(page, live_server, user.username)
    order = place(user)
    page.clock.install(time=timezone.now())
    page.goto(f"{live_server.url}/orders/")
    row = page.locator(f'[data-order-row="{order.pk}"]')
    expect(row).to_contain_text("Queued")
    expect(page.locator('[data-tab="processing"]')).to_contain_text("0")

    # when the sweep releases the order and the page's 5-second refresh comes round
    services.order_release_due(now=order.release_at + timedelta(seconds=1))
    page.clock.fast_forward(5_100)

    # then the row and the tab counts show it without a reload
    expect(row).to_contain_text("Processing")
    expect(page.locator('[data-tab="processing"]')).to_contain_text("1")
    row.get_by_role("button", name=re.compile("Supplier")).click()
    expect(row).to_contain_text("Too late to cancel")

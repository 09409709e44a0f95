"""Real Chromium: an affiliate logs in and edits min stock on the Settings page."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page: Page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_browser_affiliate_sets_min_stock_and_sees_errors(page: Page, live_server):
    user = UserFactory(affiliate__min_stock=2)
    log_in(page, live_server, user.username)

    # given the Settings page
    page.get_by_role("link", name="Settings").click()
    min_stock = page.get_by_label("Min stock")
    expect(min_stock).to_have_value("2")

    # when min stock is set to 3 and saved
    min_stock.fill("3")
    page.get_by_role("button", name="Save account settings").click()

    # then the page says so and the field shows 3 after the reload
    expect(page.get_by_role("alert")).to_contain_text("Account settings saved")
    expect(page.get_by_label("Min stock")).to_have_value("3")
    user.affiliate.refresh_from_db()
    assert user.affiliate.min_stock == 3

    # when 1 is entered, the form shows the error and nothing changes
    page.get_by_label("Min stock").fill("1")
    page.get_by_role("button", name="Save account settings").click()
    expect(page.locator("#account")).to_contain_text(re.compile("Min stock must be 2 or more"))
    user.affiliate.refresh_from_db()
    assert user.affiliate.min_stock == 3


def test_browser_affiliate_adds_card_and_creates_api_key(page: Page, live_server):
    user = UserFactory()
    log_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/settings/")

    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_label("Expiry (MM/YY)").fill("12/39")
    page.get_by_role("button", name="Add card").click()
    expect(page.locator("#payment-methods")).to_contain_text("declined")

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/39")
    page.get_by_role("button", name="Add card").click()
    expect(page.locator("#payment-methods table")).to_contain_text("Visa •••• 4242")
    expect(page.locator("#payment-methods table")).to_contain_text("Default")

    page.get_by_label("Key name").fill("eBay lister")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-api-key")).to_contain_text("fbs_")

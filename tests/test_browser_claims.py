"""Real Chromium: an affiliate files a claim with a receipt and sees it in review; a Support user
approves it in admin through the approval page; the affiliate sees it approved.

Set FBS_SCREENSHOTS=/some/folder to keep a screenshot of each step.
"""

import os
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from claims.models import Claim
from tests.factories import PASSWORD, StaffFactory
from tests.test_browser_settings import log_in
from tests.test_claims_helpers import png_bytes, use_private_storage, voided_line

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


def support_staff(username: str):
    """A Support user. Transactional tests before this one may have flushed the groups the data
    migration made; the permissions themselves come back after every flush."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name="Support")
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="claims", codename__in=["view_claim", "change_claim"]
        )
    )
    return StaffFactory(username=username, group="Support")


def shot(page: Page, name: str) -> None:
    folder = os.environ.get("FBS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_browser_claim_filed_in_review_approved_by_support_seen_approved(
    page: Page, live_server, browser
):
    # given an affiliate at min stock 2 whose line FBS voided
    user, order, line = voided_line(min_stock=2)
    log_in(page, live_server, user.username)

    # when it files a claim for the line with a photo of the receipt
    page.goto(f"{live_server.url}/claims/")
    shot(page, "1-claims-list")
    page.locator(f'[data-claimable-line="{line.pk}"]').get_by_role(
        "link", name="File a claim"
    ).click()
    expect(page.get_by_role("heading", name="File a claim for ACD P1")).to_be_visible()
    expect(page.locator("#claim-preview")).to_contain_text("Your min stock was 2")
    page.get_by_label("Supplier").fill("Main Street Motors")
    page.get_by_label("Purchase date").fill(timezone.localdate().isoformat())
    page.get_by_label("Amount paid ($)").fill("58.40")
    page.get_by_label("Receipt").set_input_files(
        files=[{"name": "receipt.png", "mimeType": "image/png", "buffer": png_bytes((200, 120))}]
    )
    shot(page, "2-claim-form")
    page.get_by_role("button", name="File claim").click()

    # then it sees the claim in review, with why and by when
    claim = Claim.objects.get()
    expect(page).to_have_url(f"{live_server.url}/claims/{claim.pk}/")
    expect(page.get_by_role("alert").first).to_contain_text(f"Claim {claim.number} is filed")
    expect(page.locator("#claim-state")).to_contain_text("In review")
    expect(page.locator("#reasons")).to_contain_text(f"Your min stock was 2 when {order.number}")
    expect(page.get_by_role("link", name="receipt.png")).to_be_visible()
    shot(page, "3-claim-in-review")

    # when a Support user approves it in admin, through the approval page
    support_staff("sue")
    staff_context = browser.new_context()
    staff = staff_context.new_page()
    staff.goto(f"{live_server.url}/login/")
    staff.get_by_label("Username").fill("sue")
    staff.get_by_label("Password").fill(PASSWORD)
    staff.get_by_role("button", name="Log in").click()
    expect(staff).to_have_url(f"{live_server.url}/admin/")
    staff.goto(f"{live_server.url}/admin/claims/claim/")
    row = staff.locator("#result_list tbody tr").filter(has_text=claim.number)
    row.get_by_role("checkbox").check()
    staff.locator("select[name=action]").select_option("approve_claims")
    shot(staff, "4-admin-list")
    staff.get_by_role("button", name="Go").click()
    expect(staff.get_by_role("heading", name="Approve claims")).to_be_visible()
    expect(staff.locator("#decision-claims")).to_contain_text("Your min stock was 2")
    staff.get_by_label("Note to the affiliate").fill("Thanks for keeping the sale.")
    shot(staff, "5-admin-approve-form")
    staff.get_by_role("button", name="Approve claims").click()
    expect(staff.locator(".messagelist")).to_contain_text(f"Approved: {claim.number}.")
    shot(staff, "6-admin-approved")
    # Closed now, so no request of the admin page outlives the live server.
    staff_context.close()

    # then the affiliate sees it approved and credited
    page.reload()
    expect(page.locator("#claim-state")).to_contain_text("Approved: $58.40")
    expect(page.locator("#claim-state")).to_contain_text("Thanks for keeping the sale.")
    page.goto(f"{live_server.url}/claims/")
    expect(page.locator(f'[data-claim-row="{claim.pk}"]')).to_contain_text(re.compile("Approved"))
    shot(page, "7-claims-list-approved")
    claim.refresh_from_db()
    assert claim.status == Claim.Status.APPROVED
    assert claim.credit.amount == claim.approved_amount

"""Real Chromium, on a desktop and on a 390 px wide phone: a claim waits for more information;
the affiliate answers with a new receipt, which is checked like the first (a receipt with script
in it is refused on its field), kept with the answer next to the first, and downloadable by the
affiliate; the claim goes back to review."""

import pytest
from playwright.sync_api import expect

from claims import services
from claims.models import Claim
from tests.factories import StaffFactory
from tests.test_browser_settings import log_in
from tests.test_claims_helpers import file_claim, png_bytes, use_private_storage, voided_line

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_browser_claim_needs_information_answered_with_a_new_receipt(
    browser, live_server, width, tmp_path
):
    # given: a claim in review (min stock 2) for which the reviewer asked a clearer receipt
    user, _, line = voided_line(min_stock=2)
    claim = file_claim(user, line, amount="58.40")
    services.claim_request_info(
        claim_id=claim.pk, user=StaffFactory(), message="The receipt is blurred: send a new one."
    )
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    log_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/claims/{claim.pk}/")
    expect(page.locator("#messages")).to_contain_text("The receipt is blurred")

    # when: the answer comes with a receipt that carries script: refused on its field
    bad = tmp_path / "scan.png"
    bad.write_bytes(png_bytes() + b"<script>alert(1)</script>")
    page.get_by_label("Your answer").fill("Here is a better scan.")
    page.get_by_label("New receipt (optional)").set_input_files(str(bad))
    page.get_by_role("button", name="Send answer").click()
    expect(page.locator("#reply-form")).to_contain_text("script code")
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.NEEDS_INFO

    # when: it sends a real one
    good = tmp_path / "clear-scan.png"
    good.write_bytes(png_bytes(size=(120, 80), color=(250, 250, 240)))
    page.get_by_label("Your answer").fill("Here is a better scan.")
    page.get_by_label("New receipt (optional)").set_input_files(str(good))
    page.get_by_role("button", name="Send answer").click()

    # then: back in review, the answer shows the new receipt, the first one is still there
    expect(page.locator("#claim-state")).to_contain_text("In review")
    new_receipt = page.locator("[data-message-receipt]")
    expect(new_receipt).to_have_text("clear-scan.png")
    box = new_receipt.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= width  # no sideways scroll on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    with page.expect_download() as download:
        new_receipt.click()
    assert download.value.suggested_filename.endswith(".png")
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == good.read_bytes()
    claim.refresh_from_db()
    message = claim.messages.exclude(receipt="").get()
    assert claim.status == Claim.Status.IN_REVIEW
    assert claim.receipt
    assert claim.receipt.name != message.receipt.name
    context.close()

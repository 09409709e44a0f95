"""Real Chromium: an affiliate searches the catalog and downloads its feed."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.factories import UserFactory, import_feed
from tests.test_browser_settings import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_browser_affiliate_searches_catalog_and_downloads_feed(page: Page, live_server):
    import_feed(
        "WH1",
        [
            ("ACD", "BP-1001", 7, "10.00", "Brake pad set"),
            ("ACD", "BP-10015", 3, "11.00", "Ceramic brake pad set"),
            ("ACD", "OF-22", 9, "4.00", "Oil filter"),
            ("ACD", "LOW-1", 1, "4.00", "Only one left"),
        ],
    )
    user = UserFactory(affiliate__min_stock=2)
    log_in(page, live_server, user.username)

    page.get_by_role("link", name="Catalog").click()
    table = page.locator("#catalog-table")
    expect(table).to_contain_text("OF-22")
    expect(table).not_to_contain_text("LOW-1")

    # search ignores case, spaces and dashes; the exact match comes first
    page.get_by_placeholder("Part number").fill("bp 1001")
    page.get_by_role("button", name="Search").click()
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").first).to_contain_text("BP-1001")
    expect(table).not_to_contain_text("OF-22")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download feed (CSV)").click()
    download = download_info.value
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))

    assert download.suggested_filename.startswith("fbs-feed-")
    assert rows[0] == ["line_code", "part_number", "description", "qty", "price"]
    assert sorted(r[1] for r in rows[1:]) == ["BP-1001", "BP-10015", "OF-22"]

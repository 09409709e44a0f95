import csv
import io

import pytest
from django.urls import reverse

from affiliates.services import api_key_create
from inventory.models import Item
from inventory.selectors import catalog_csv, catalog_page
from tests.factories import AffiliateFactory, UserFactory, import_feed

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked():
    """Items with available 0, 1, 2, 3 and 10 at one warehouse."""
    import_feed(
        "WH1",
        [
            ("ACD", "QTY-0", 0, "1.00"),
            ("ACD", "QTY-1", 1, "1.00"),
            ("ACD", "QTY-2", 2, "1.00"),
            ("ACD", "QTY-3", 3, "1.00"),
            ("MOT", "QTY-10", 10, "1.00"),
        ],
    )


def visible_parts(affiliate) -> set[str]:
    return {i.part_number for i in Item.objects.visible_to(affiliate)}


@pytest.mark.parametrize(
    ("min_stock", "expected"),
    [
        (2, {"QTY-2", "QTY-3", "QTY-10"}),
        (3, {"QTY-3", "QTY-10"}),
        (11, set()),
    ],
)
def test_visibility_at_the_edges(stocked, min_stock, expected):
    assert visible_parts(AffiliateFactory(min_stock=min_stock)) == expected


def test_visibility_never_below_two_whatever_the_setting_of_the_affiliate(stocked):
    # A min stock of 1 cannot be saved; even if it were, FBS_MIN_VISIBLE_QTY holds.
    affiliate = AffiliateFactory.build(min_stock=1)

    assert "QTY-1" not in visible_parts(affiliate)


def test_visibility_warehouse_going_to_zero_hides_the_item(stocked):
    import_feed("WH1", [("MOT", "QTY-10", 0, "1.00")], allow_empty=True)

    assert visible_parts(AffiliateFactory(min_stock=2)) == set()


def test_visibility_committed_stock_is_not_available(stocked):
    # Orders (issue 4) commit stock; available = stock - committed.
    Item.objects.filter(part_number="QTY-3").update(committed_qty=2, available_qty=1)
    import_feed("WH1", [("ACD", "QTY-3", 4, "1.00")], allow_empty=True)

    assert Item.objects.get(part_number="QTY-3").available_qty == 2


def test_catalog_search_ignores_case_spaces_dashes_dots_and_puts_exact_first():
    import_feed(
        "WH1",
        [
            ("ACD", "AB-1234", 5, "1"),
            ("ACD", "AB-12345", 5, "1"),
            ("BRK", "ab.1234", 5, "1"),
            ("ACD", "AB-124", 5, "1"),
            ("ACD", "XAB1234", 5, "1"),
        ],
    )
    affiliate = AffiliateFactory()

    page = catalog_page(affiliate=affiliate, search="ab 12.3-4")

    found = [(i.line_code, i.part_number) for i in page.items]
    assert found[:2] == [("ACD", "AB-1234"), ("BRK", "AB.1234")]  # exact matches first
    assert found[2:] == [("ACD", "AB-12345")]  # then longer part numbers with that start
    assert catalog_page(affiliate=affiliate, search="AB124").items[0].part_number == "AB-124"


def test_catalog_keyset_pages_cover_everything_once():
    import_feed("WH1", [(lc, f"P{n:03d}", 5, "1") for lc in ("AAA", "BBB") for n in range(60)])
    affiliate = AffiliateFactory()
    seen, cursor = [], None

    while True:
        page = catalog_page(affiliate=affiliate, cursor=cursor, limit=17)
        seen.extend((i.line_code, i.part_number) for i in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert len(seen) == 120
    assert seen == sorted(seen)


def test_catalog_line_code_filter_and_search_page_with_cursor():
    import_feed("WH1", [(lc, f"AB{n:03d}", 5, "1") for lc in ("AAA", "BBB") for n in range(30)])
    affiliate = AffiliateFactory()

    first = catalog_page(affiliate=affiliate, search="ab", line_code="bbb", limit=20)
    second = catalog_page(
        affiliate=affiliate, search="ab", line_code="bbb", cursor=first.next_cursor, limit=20
    )

    assert {i.line_code for i in first.items + second.items} == {"BBB"}
    assert len(first.items) + len(second.items) == 30
    assert second.next_cursor is None


def test_feed_csv_is_exactly_the_visible_rows(stocked):
    affiliate = AffiliateFactory(min_stock=3)

    rows = list(csv.reader(io.StringIO("".join(catalog_csv(affiliate=affiliate)))))

    assert rows[0] == ["line_code", "part_number", "description", "qty", "price"]
    assert rows[1:] == [["ACD", "QTY-3", "", "3", "1.20"], ["MOT", "QTY-10", "", "10", "1.20"]]


@pytest.fixture
def two_affiliates(client, api_client, stocked):
    """A logged-in affiliate with min stock 2 and an API client for one with min stock 5."""
    low = UserFactory(affiliate__min_stock=2)
    high = UserFactory(affiliate__min_stock=5)
    client.force_login(low)
    _, raw = api_key_create(user=high, name="t")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return low, high


def test_catalog_page_shows_what_the_affiliate_may_see(client, two_affiliates):
    response = client.get(reverse("inventory:catalog"))

    assert response.status_code == 200
    assert b"QTY-2" in response.content
    assert b"QTY-1<" not in response.content


def test_another_affiliates_min_stock_does_not_leak(client, api_client, two_affiliates):
    qty3 = Item.objects.get(part_number="QTY-3")

    page = client.get(reverse("inventory:item", args=[qty3.pk]))  # min stock 2: visible
    api_item = api_client.get(f"/api/v1/catalog/{qty3.pk}")  # min stock 5: hidden
    api_list = api_client.get("/api/v1/catalog").json()["results"]
    api_feed = b"".join(api_client.get("/api/v1/catalog.csv").streaming_content).decode()

    assert page.status_code == 200
    assert api_item.status_code == 404
    assert [r["part_number"] for r in api_list] == ["QTY-10"]
    assert "QTY-3" not in api_feed
    assert "QTY-10" in api_feed


def test_hidden_item_direct_url_is_404(client, two_affiliates):
    hidden = Item.objects.get(part_number="QTY-1")

    assert client.get(reverse("inventory:item", args=[hidden.pk])).status_code == 404


def test_api_catalog_pages_match_the_feed(api_client, two_affiliates):
    import_feed("WH2", [("ZZZ", f"Z{n:03d}", 9, "2.50") for n in range(120)])
    results, cursor = [], None
    while True:
        params = {"limit": 50} | ({"cursor": cursor} if cursor else {})
        body = api_client.get("/api/v1/catalog", params).json()
        results.extend(body["results"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    feed = list(
        csv.DictReader(
            io.StringIO(b"".join(api_client.get("/api/v1/catalog.csv").streaming_content).decode())
        )
    )

    assert len(results) == len(feed) == 121
    assert [(r["line_code"], r["part_number"], str(r["qty"]), r["price"]) for r in results] == [
        (r["line_code"], r["part_number"], r["qty"], r["price"]) for r in feed
    ]


def test_api_catalog_bad_cursor_is_400(api_client, two_affiliates):
    response = api_client.get("/api/v1/catalog", {"cursor": "not-a-cursor"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["cursor"]


def test_feed_download_is_an_attachment(client, two_affiliates):
    response = client.get(reverse("inventory:feed"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0] == "line_code,part_number,description,qty,price"


def test_catalog_needs_an_affiliate_login(client, api_client):
    assert client.get(reverse("inventory:catalog")).status_code == 302
    assert client.get(reverse("inventory:feed")).status_code == 302
    assert api_client.get("/api/v1/catalog.csv").status_code == 401


def test_admin_lists_render_for_support(client, stocked):
    from tests.factories import StaffFactory

    client.force_login(StaffFactory(group="Support"))

    for url in (
        "/admin/inventory/warehouse/",
        "/admin/inventory/warehouse/?feed=stale",
        "/admin/inventory/item/?q=qty-1",
        "/admin/inventory/stock/?q=qty",
        "/admin/inventory/feedimport/",
    ):
        assert client.get(url).status_code == 200, url
    item_search = client.get("/admin/inventory/item/?q=qty 1")
    assert b"QTY-10" in item_search.content

"""The orders pages: wiring, permissions, form errors, CSV upload, Cancel Request outcomes and
special orders. The rules themselves are the services' (tests/test_orders_services.py)."""

import html
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from orders import csv_upload, emails, services
from orders.models import Order, OrderLine
from payments.models import LedgerEntry
from tests.factories import CardFactory
from tests.orders_helpers import (
    SHIP_TO,
    affiliate_user,
    new_order_post,
    place,
    release,
    release_and_fulfill,
    stock_up,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(client):
    stock_up()
    user = affiliate_user()
    client.force_login(user)
    return user


def text(response) -> str:
    return html.unescape(response.content.decode())


def order_urls(order, line_id=None):
    """Every orders URL about one order, with the method it answers."""
    line_id = line_id or order.lines.first().pk
    return [
        ("get", reverse("orders:detail", args=[order.pk])),
        ("get", reverse("orders:cancel-request", args=[order.pk])),
        ("post", reverse("orders:cancel-request", args=[order.pk])),
        ("get", reverse("orders:cancel-result", args=[order.pk])),
        ("post", reverse("orders:pay", args=[order.pk])),
        ("post", reverse("orders:special-order", args=[order.pk, line_id])),
        ("post", reverse("orders:special-order-withdraw", args=[order.pk, line_id])),
    ]


# --- permissions ------------------------------------------------------------------------------


def test_orders_pages_need_login(client):
    stock_up()
    order = place(affiliate_user())
    urls = [
        ("get", reverse("orders:list")),
        ("get", reverse("orders:new")),
        ("post", reverse("orders:new")),
        ("get", reverse("orders:upload")),
        ("get", reverse("orders:upload-template")),
        ("get", reverse("orders:fill-rate")),
        *order_urls(order),
    ]
    for method, url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url
    order.refresh_from_db()
    assert order.status == Order.Status.QUEUED


def test_another_affiliates_order_is_a_404_on_every_orders_url(client, user):
    other = affiliate_user()
    theirs = place(other, marketplace_order_id="THEIRS")

    for method, url in order_urls(theirs):
        response = getattr(client, method)(url, {"reason": "Buyer changed their mind"})
        assert response.status_code == 404, (method, url)

    theirs.refresh_from_db()
    assert theirs.status == Order.Status.QUEUED
    assert not theirs.events.filter(kind="cancel_request").exists()
    # and it is neither listed nor found by search
    listed = client.get(reverse("orders:list"), {"q": theirs.number})
    assert list(listed.context["orders"]) == []
    assert listed.context["tabs"][0]["count"] == 0


def test_line_of_another_order_is_a_404(client, user):
    mine = place(user, marketplace_order_id="MINE")
    theirs = place(affiliate_user(), marketplace_order_id="THEIRS")
    their_line = theirs.lines.get()

    for name in ("orders:special-order", "orders:special-order-withdraw"):
        response = client.post(reverse(name, args=[mine.pk, their_line.pk]))
        assert response.status_code == 404


def test_staff_without_affiliate_is_sent_to_admin(client):
    from tests.factories import StaffFactory

    client.force_login(StaffFactory())

    response = client.get(reverse("orders:list"))

    assert response.status_code == 302
    assert response.url == reverse("admin:index")


# --- Order Management -------------------------------------------------------------------------


def test_order_list_tabs_count_each_status_and_filter(client, user):
    release(place(user, marketplace_order_id="P-1"))  # the sweep releases every order due
    place(user, marketplace_order_id="Q-1")
    place(user, marketplace_order_id="Q-2")
    cancelled = place(user, marketplace_order_id="C-1")
    services.order_cancel_request(order=cancelled, user=user, reason="test")

    page = client.get(reverse("orders:list"))
    tabs = {tab["value"]: tab["count"] for tab in page.context["tabs"]}

    assert tabs[""] == 4
    assert tabs["queued"] == 2
    assert tabs["cancelled"] == 1
    assert tabs["processing"] == 1
    assert tabs["shipped"] == 0
    assert [t["label"] for t in page.context["tabs"]] == [
        "All", "Awaiting payment", "Queued", "Processing", "Fulfilled", "Partially voided",
        "Voided", "Special order", "Cancelled", "Shipped",
    ]  # fmt: skip

    queued = client.get(reverse("orders:list"), {"status": "queued"})
    assert [o.marketplace_order_id for o in queued.context["orders"]] == ["Q-2", "Q-1"]


def test_order_list_search_by_our_number_or_the_marketplace_number(client, user):
    first = place(user, marketplace_order_id="12-34567-89012")
    place(user, marketplace_order_id="OTHER")

    by_ours = client.get(reverse("orders:list"), {"q": first.number})
    by_theirs = client.get(reverse("orders:list"), {"q": "12-34567-89012"})
    nothing = client.get(reverse("orders:list"), {"q": "NOPE-1"})

    assert [o.pk for o in by_ours.context["orders"]] == [first.pk]
    assert [o.pk for o in by_theirs.context["orders"]] == [first.pk]
    assert "No order" in text(nothing)
    assert "NOPE-1" in text(nothing)  # the search box keeps what was typed


def test_order_list_paginates_by_50(client, user):
    stock_up(rows=[("ACD", "P1", 200, "1.00")])
    for n in range(51):
        place(user, marketplace_order_id=f"M-{n}")

    first = client.get(reverse("orders:list"))
    second = client.get(reverse("orders:list"), {"page": 2})

    assert len(first.context["orders"]) == 50
    assert [o.marketplace_order_id for o in second.context["orders"]] == ["M-0"]
    assert "Page 2 of 2" in text(second)


def test_order_list_htmx_refresh_after_the_session_ended_reloads_the_page(client):
    response = client.get(reverse("orders:list"), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"


def test_order_list_htmx_refresh_returns_only_the_table(client, user):
    place(user)

    full = client.get(reverse("orders:list"), {"status": "queued"})
    partial = client.get(reverse("orders:list"), {"status": "queued"}, HTTP_HX_REQUEST="true")

    assert "<html" in full.content.decode()
    body = partial.content.decode()
    assert "<html" not in body
    assert 'id="orders-live"' in body
    # it polls the same URL again, filters included
    assert 'hx-get="/orders/?status=queued"' in body
    assert 'hx-trigger="every 5s' in body


def test_order_list_queued_order_has_countdown_and_cancel_request(client, user):
    processing = release(place(user, marketplace_order_id="P-1"))
    queued = place(user, marketplace_order_id="Q-1")

    page = text(client.get(reverse("orders:list")))

    assert f'data-release-at="{timezone.localtime(queued.release_at).isoformat()}"' in page
    assert reverse("orders:cancel-request", args=[queued.pk]) in page
    assert reverse("orders:cancel-request", args=[processing.pk]) not in page
    assert reverse("orders:detail", args=[processing.pk]) in page
    assert "Too late to cancel" in page


def test_order_list_window_closed_but_not_yet_released_says_releasing(client, user, settings):
    settings.FBS_CANCEL_WINDOW_SECONDS = 0
    order = place(user)

    page = text(client.get(reverse("orders:list")))

    assert order.status == Order.Status.QUEUED
    assert "Releasing…" in page
    assert reverse("orders:cancel-request", args=[order.pk]) not in page


# --- New order ----------------------------------------------------------------------------------


def test_new_order_page_shows_the_form_with_five_line_rows(client, user):
    response = client.get(reverse("orders:new"))

    assert response.status_code == 200
    assert len(response.context["formset"].forms) == 5
    assert "Place order" in text(response)


def test_new_order_placed_with_card_is_charged_and_says_until_when(client, user):
    response = client.post(
        reverse("orders:new"),
        new_order_post(lines=[("acd", "p1", "2"), ("", "", ""), ("ACD", "P2", "1")]),
        follow=True,
    )

    order = Order.objects.get()
    assert response.redirect_chain[-1][0] == reverse("orders:detail", args=[order.pk])
    assert order.status == Order.Status.QUEUED
    assert [(ln.part_number, ln.qty) for ln in order.lines.all()] == [("P1", 2), ("P2", 1)]
    page = text(response)
    assert "is placed and paid" in page
    assert f"in the queue until {timezone.localtime(order.release_at):%H:%M}" in page
    assert "Cancel Request can still stop it" in page


def test_new_order_without_payment_method_waits_and_warns(client):
    stock_up()
    user = affiliate_user(card=False)
    client.force_login(user)

    page = text(client.get(reverse("orders:new")))
    assert "no valid card or PayPal on file" in page

    response = client.post(reverse("orders:new"), new_order_post(), follow=True)

    order = Order.objects.get()
    assert order.status == Order.Status.AWAITING_PAYMENT
    page = text(response)
    assert "placed but not paid" in page
    assert "can lose you the stock" in page
    assert reverse("affiliates:settings") in page


def test_new_order_refused_shows_each_problem_at_its_line_and_keeps_everything(client, user):
    # given row 1 good, row 2 empty, row 3 an unknown part, row 4 more than there is
    data = new_order_post(
        lines=[("ACD", "P1", "1"), ("", "", ""), ("ACD", "NOPE-9", "3"), ("ACD", "P2", "11")],
        marketplace_order_id="EB-777",
        ship_address2="Suite 5",
    )

    response = client.post(reverse("orders:new"), data)

    assert response.status_code == 200
    assert not Order.objects.exists()
    formset = response.context["formset"]
    # the service's lines 2 and 3 are the form's rows 3 and 4: the empty row was skipped
    assert formset.forms[2].non_field_errors() == ["ACD NOPE-9 is not in your catalog."]
    assert formset.forms[3].non_field_errors() == ["Only 10 of ACD P2 available; 11 asked."]
    assert not formset.forms[0].errors
    page = text(response)
    assert "The order was not placed" in page
    for typed in ('value="EB-777"', 'value="Suite 5"', 'value="NOPE-9"', 'value="3"'):
        assert typed in page


def test_new_order_missing_ship_to_is_shown_at_the_field(client, user):
    data = new_order_post(ship_state="", ship_city="", ship_name="Bo Buyer")

    response = client.post(reverse("orders:new"), data)

    assert not Order.objects.exists()
    errors = response.context["form"].errors
    assert errors["ship_state"] == ["State is needed."]
    assert errors["ship_city"] == ["City is needed."]
    assert 'value="Bo Buyer"' in text(response)
    assert 'value="P1"' in text(response)


def test_new_order_same_marketplace_number_twice_is_shown_on_that_field(client, user):
    place(user, marketplace_order_id="EB-100")

    response = client.post(reverse("orders:new"), new_order_post(marketplace_order_id="EB-100"))

    assert Order.objects.count() == 1
    assert "already sent an order" in response.context["form"].errors["marketplace_order_id"][0]


def test_new_order_with_no_lines_says_so(client, user):
    response = client.post(reverse("orders:new"), new_order_post(lines=[]))

    assert not Order.objects.exists()
    assert "An order needs at least one line." in response.context["problems"]


def test_new_order_qty_not_a_number_is_a_form_error_and_nothing_is_placed(client, user):
    response = client.post(reverse("orders:new"), new_order_post(lines=[("ACD", "P1", "two")]))

    assert not Order.objects.exists()
    assert response.context["formset"].forms[0].errors["qty"] == ["Qty must be a whole number."]
    assert 'value="two"' in text(response)


# --- the order page -----------------------------------------------------------------------------


def test_order_page_queued_shows_countdown_cancel_and_money(client, user):
    order = place(user, ("P1", 2))

    page = text(client.get(reverse("orders:detail", args=[order.pk])))

    assert "data-countdown" in page
    assert reverse("orders:cancel-request", args=[order.pk]) in page
    assert "Paid, waiting in the queue" in page
    assert f"${order.total} charged" in page
    assert "Order placed: 1 line(s)" in page  # the timeline
    assert "Ann Buyer" in page
    assert "Plano, TX 75024" in page


def test_order_page_after_release_offers_no_cancel_and_explains_why(client, user):
    order = release_and_fulfill(place(user))

    page = text(client.get(reverse("orders:detail", args=[order.pk])))

    assert order.status == Order.Status.FULFILLED
    assert reverse("orders:cancel-request", args=[order.pk]) not in page
    assert "can no longer be cancelled" in page
    assert "WH1" in page  # the warehouse the line went to
    assert emails.BUYER_MESSAGE_TOO_LATE in page


def test_order_page_shipped_explains_the_return_path(client, user, settings):
    settings.FBS_SANDBOX_TRACKING_SECONDS = 0
    order = release_and_fulfill(place(user))
    services.shipments_poll()
    order.refresh_from_db()

    page = text(client.get(reverse("orders:detail", args=[order.pk])))

    assert order.status == Order.Status.SHIPPED
    assert "refuse the delivery" in page
    assert "return the parcel" in page
    assert order.lines.get().tracking_number in page


def test_pay_button_charges_an_order_waiting_for_payment(client):
    stock_up()
    user = affiliate_user(card=False)
    client.force_login(user)
    order = place(user)

    # without a method the page warns and the POST says where to add one
    page = text(client.get(reverse("orders:detail", args=[order.pk])))
    assert "paying orders one at a time can lose you the part" in page
    refused = text(client.post(reverse("orders:pay", args=[order.pk]), follow=True))
    assert "No valid payment method on file" in refused
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT

    # with a card on file it is paid and queued
    CardFactory(affiliate=user.affiliate)
    paid = text(client.post(reverse("orders:pay", args=[order.pk]), follow=True))

    order.refresh_from_db()
    assert order.status == Order.Status.QUEUED
    assert f"{order.number} is paid" in paid


def test_pay_twice_says_it_is_not_waiting_any_more(client, user):
    order = place(user)  # charged at once

    response = text(client.post(reverse("orders:pay", args=[order.pk]), follow=True))

    assert "Only an order that is awaiting payment can be paid." in response
    assert LedgerEntry.objects.filter(order=order).count() == 1


# --- Cancel Request ---------------------------------------------------------------------------


def test_cancel_request_in_the_window_cancels_and_says_refunded(client, user):
    order = place(user, ("P1", 2))

    response = client.post(
        reverse("orders:cancel-request", args=[order.pk]),
        {"reason": "Buyer cancelled on the marketplace", "details": "asked at 9am"},
    )

    assert response.status_code == 302
    assert response.url == reverse("orders:cancel-result", args=[order.pk])
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    event = order.events.get(kind="cancel_request")
    assert event.message.endswith("Reason: Buyer cancelled on the marketplace: asked at 9am")
    page = text(client.get(response.url))
    assert f"{order.number} is cancelled" in page
    assert f"${order.total} is refunded to Visa •••• 4242" in page
    assert 'data-outcome="cancelled"' in page


def test_cancel_request_after_release_is_too_late_with_the_buyer_message(client, user):
    order = release(place(user))
    assert order.status == Order.Status.PROCESSING

    response = client.post(
        reverse("orders:cancel-request", args=[order.pk]),
        {"reason": "Buyer changed their mind"},
        follow=True,
    )

    order.refresh_from_db()
    assert order.status == Order.Status.PROCESSING
    page = text(response)
    assert 'data-outcome="too_late"' in page
    assert "Too late" in page
    assert "nothing and nobody can stop it now" in page
    assert f"readonly>{emails.BUYER_MESSAGE_TOO_LATE}</textarea>" in page
    assert "Copy message" in page
    assert not LedgerEntry.objects.filter(order=order, kind="refund").exists()


def test_cancel_request_of_unpaid_order_says_nothing_was_charged(client):
    stock_up()
    user = affiliate_user(card=False)
    client.force_login(user)
    order = place(user)

    response = client.post(
        reverse("orders:cancel-request", args=[order.pk]),
        {"reason": "Sent by mistake or twice"},
        follow=True,
    )

    assert "never charged, so there is nothing to refund" in text(response)


def test_cancel_request_without_a_reason_keeps_what_was_typed(client, user):
    order = place(user)

    response = client.post(
        reverse("orders:cancel-request", args=[order.pk]), {"reason": "", "details": "call me"}
    )

    assert response.status_code == 200
    assert "Choose why you cancel" in text(response)
    assert 'value="call me"' in text(response)
    order.refresh_from_db()
    assert order.status == Order.Status.QUEUED


def test_cancel_request_other_needs_details(client, user):
    order = place(user)

    response = client.post(reverse("orders:cancel-request", args=[order.pk]), {"reason": "Other"})

    assert "Say in a few words why you cancel." in text(response)
    order.refresh_from_db()
    assert order.status == Order.Status.QUEUED


def test_cancel_request_confirmation_page_works_without_javascript(client, user):
    order = place(user)

    page = text(client.get(reverse("orders:cancel-request", args=[order.pk])))

    assert "Cancel Request for " + order.number in page
    assert "Send Cancel Request" in page
    assert f"${order.total} is refunded" in page


def test_cancel_result_before_any_request_goes_to_the_order(client, user):
    order = place(user)

    response = client.get(reverse("orders:cancel-result", args=[order.pk]))

    assert response.status_code == 302
    assert response.url == reverse("orders:detail", args=[order.pk])


# --- special orders ---------------------------------------------------------------------------


def test_voided_line_offers_special_order_then_withdraw(client, user, settings):
    settings.FBS_SANDBOX_MISS_RATE = 1.0  # every warehouse misses: the line is voided
    order = release_and_fulfill(place(user, ("P1", 1)))
    line = order.lines.get()
    assert (order.status, line.status) == (Order.Status.VOIDED, OrderLine.Status.VOIDED)

    page = text(client.get(reverse("orders:detail", args=[order.pk])))
    assert "Special order (buyer agreed)" in page
    assert f"readonly>{emails.BUYER_MESSAGE_VOIDED}</textarea>" in page
    assert "Void refund" in page  # money moved

    response = client.post(reverse("orders:special-order", args=[order.pk, line.pk]), follow=True)

    line.refresh_from_db()
    assert line.status == OrderLine.Status.SPECIAL_ORDER
    page = text(response)
    assert "is now a special order" in page
    assert "Withdraw special order" in page
    assert "Special order (buyer agreed)" not in page

    response = client.post(
        reverse("orders:special-order-withdraw", args=[order.pk, line.pk]), follow=True
    )

    line.refresh_from_db()
    assert line.status == OrderLine.Status.VOIDED
    assert "withdrawn" in text(response)


def test_special_order_refused_by_the_service_is_a_message_not_an_error(client, user):
    order = release_and_fulfill(place(user))  # filled: nothing to special order
    line = order.lines.get()

    response = client.post(reverse("orders:special-order", args=[order.pk, line.pk]), follow=True)

    assert response.status_code == 200
    assert "Only a line FBS voided can become a special order." in text(response)
    line.refresh_from_db()
    assert line.status == OrderLine.Status.FULFILLED


# --- CSV upload ---------------------------------------------------------------------------------

HEADER = ",".join(csv_upload.COLUMNS)


def csv_file(*rows: str, header: str = HEADER, name: str = "orders.csv", encoding="utf-8"):
    content = "\n".join([header, *rows]) + "\n"
    return SimpleUploadedFile(name, content.encode(encoding), content_type="text/csv")


def row(order_id, part="P1", qty="1", marketplace="ebay", city="Plano", state="TX") -> str:
    return f"{marketplace},{order_id},Ann Buyer,1 Main St,,{city},{state},75024,US,ACD,{part},{qty}"


def upload(client, file):
    return client.post(reverse("orders:upload"), {"file": file})


def test_upload_template_is_a_csv_with_the_header(client, user):
    response = client.get(reverse("orders:upload-template"))

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    lines = response.content.decode().splitlines()
    assert lines[0] == HEADER
    assert len(lines) > 1


def test_upload_places_each_order_and_groups_rows_by_marketplace_number(client, user):
    file = csv_file(
        row("A-1", "P1", "2"),
        # a later row of an order may leave the order columns empty
        ",A-1,,,,,,,,ACD,P2,1",
        row("B-2", "P3", "1", marketplace="Amazon"),
    )

    response = upload(client, file)

    assert response.status_code == 200
    result = response.context["result"]
    assert [u.marketplace_order_id for u in result.placed] == ["A-1", "B-2"]
    a1 = Order.objects.get(marketplace_order_id="A-1")
    assert [(ln.part_number, ln.qty) for ln in a1.lines.all()] == [("P1", 2), ("P2", 1)]
    assert a1.status == Order.Status.QUEUED
    assert Order.objects.get(marketplace_order_id="B-2").marketplace == "amazon"
    page = text(response)
    assert reverse("orders:detail", args=[a1.pk]) in page
    assert "2 placed" in page
    assert "0 refused" in page


def test_upload_refused_orders_say_why_by_row_and_do_not_stop_the_others(client, user):
    place(user, marketplace_order_id="DUP-1")
    file = csv_file(
        row("OK-1"),
        row("BAD-1", "P1", "1"),
        row("BAD-1", "NOPE", "1"),
        row("BAD-2", "P1", "0"),
        row("DUP-1"),
        row("MIX-1", city="Plano"),
        row("MIX-1", city="Dallas"),
        row("", "P1", "1"),
    )

    response = upload(client, file)

    result = response.context["result"]
    assert [u.marketplace_order_id for u in result.placed] == ["OK-1"]
    refused = {u.marketplace_order_id: u.problems for u in result.refused}
    assert refused["BAD-1"] == ["Row 4: ACD NOPE is not in your catalog."]
    assert refused["BAD-2"] == ["Row 5: Qty must be a whole number from 1 to 999."]
    assert "already sent an order" in refused["DUP-1"][0]
    assert "Row 8: ship_city “Dallas” is not the same as on row 7" in refused["MIX-1"][0]
    assert refused[""] == ["Row 9: the marketplace_order_id is empty."]
    assert not Order.objects.filter(marketplace_order_id__in=["BAD-1", "BAD-2", "MIX-1"]).exists()
    assert "Row 4: ACD NOPE is not in your catalog." in text(response)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00binary workbook", "spreadsheet workbook (Excel)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV text file"),
        (HEADER.encode() + b"\nebay,\xe9t\xe9,x\n", "not UTF-8 text"),
        (b"line_code,part_number,qty\nACD,P1,1\n", "missing marketplace, marketplace_order_id"),
        (b"hello world\nfoo\n", "this file starts with “hello world”"),
        (HEADER.replace(",", ";").encode() + b"\n", "separated by semicolons"),
        (HEADER.encode() + b",note\n", "unknown note"),
        (b"\n\n", "The file is empty."),
        (HEADER.encode() + b"\n", "no orders: only the header"),
    ],
)
def test_upload_bad_file_places_nothing_and_says_why(client, user, content, message):
    response = upload(client, SimpleUploadedFile("orders.csv", content))

    assert response.status_code == 200
    assert not Order.objects.exists()
    errors = " ".join(response.context["form"].errors["file"])
    assert "Nothing was placed." in errors
    assert message in errors


def test_upload_in_latin1_is_refused_with_how_to_fix(client, user):
    response = upload(client, csv_file(row("A-1").replace("Ann", "Anné"), encoding="latin-1"))

    assert not Order.objects.exists()
    assert "Save it as “CSV UTF-8”" in text(response)


def test_upload_utf8_with_bom_from_excel_is_fine(client, user):
    response = upload(client, csv_file(row("A-1"), header="\ufeff" + HEADER))

    assert [u.marketplace_order_id for u in response.context["result"].placed] == ["A-1"]


def test_upload_over_5_mb_is_refused(client, user, monkeypatch):
    big = SimpleUploadedFile("orders.csv", (HEADER + "\n").encode() + b"x" * (5 * 1024 * 1024))

    response = upload(client, big)

    assert not Order.objects.exists()
    assert "at most 5 MB" in text(response)


def test_upload_over_the_order_limit_is_refused_whole(client, user, monkeypatch):
    monkeypatch.setattr(csv_upload, "MAX_ORDERS", 2)

    response = upload(client, csv_file(row("A-1"), row("A-2"), row("A-3")))

    assert not Order.objects.exists()
    assert "more than 2 orders" in text(response)


def test_upload_reads_1000_orders_but_not_1001():
    rows = [row(f"N-{n}") for n in range(1001)]
    content = ("\n".join([HEADER, *rows[:1000]]) + "\n").encode()

    orders = csv_upload.read_orders(io.BytesIO(content))
    assert len(orders) == 1000

    with pytest.raises(csv_upload.UploadError, match="more than 1,000 orders"):
        csv_upload.read_orders(io.BytesIO(("\n".join([HEADER, *rows]) + "\n").encode()))


# --- dashboard and navigation -------------------------------------------------------------------


def test_dashboard_links_to_orders_and_shows_this_years_fill_rate(client, user):
    release_and_fulfill(place(user, ("P1", 1), ("P2", 1)))
    place(user, marketplace_order_id="M-2")

    page = text(client.get(reverse("dashboard")))

    assert reverse("orders:list") in page
    assert reverse("orders:new") in page
    assert reverse("orders:fill-rate") in page
    assert "100.0%" in page
    assert "2 of 2 lines filled" in page
    assert 'href="/orders/">Orders</a>' in page  # the navigation bar


def test_dashboard_without_orders_says_what_to_expect(client, user):
    page = text(client.get(reverse("dashboard")))

    assert "No orders yet" in page
    assert "Expect about 98%" in page


def test_fill_rate_page_shows_the_affiliates_own_lines_only(client, user, settings):
    release_and_fulfill(place(user, ("P1", 1), ("P2", 1)))
    other = affiliate_user()
    settings.FBS_SANDBOX_MISS_RATE = 1.0
    release_and_fulfill(place(other, ("P3", 1), marketplace_order_id="THEIRS"))

    response = client.get(reverse("orders:fill-rate"))

    (year,) = response.context["by_year"]
    assert (year.released, year.filled, year.voided) == (2, 2, 0)
    assert year.fill_rate == Decimal("100.0")
    page = text(response)
    assert 'id="fill-rate-chart"' in page
    assert 'id="fill-rate-months"' in page
    assert SHIP_TO["name"] not in page  # numbers only, nothing about orders

"""The fill rate selector, on a small history built through the services at fixed moments."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from inventory.models import Warehouse
from inventory.services import warehouse_register
from orders import selectors, services
from orders.models import OrderLine
from tests.factories import import_feed
from tests.orders_helpers import (
    ScriptedConnector,
    affiliate_user,
    clock_at,
    place,
    release_and_fulfill,
)

pytestmark = pytest.mark.django_db

CHICAGO = ZoneInfo("America/Chicago")  # the site's TIME_ZONE: periods are its months
UTC = ZoneInfo("UTC")


def at(year, month, day, hour=12, tz=CHICAGO):
    return datetime(year, month, day, hour, tzinfo=tz)


@pytest.fixture
def scripted(settings):
    settings.FBS_WAREHOUSE_CONNECTOR = "tests.orders_helpers.ScriptedConnector"
    ScriptedConnector.script = {}
    return ScriptedConnector.script


@pytest.fixture
def history(scripted):
    """Affiliate A's lines, decided in November 2025, December 2025 (one of them on New Year's
    Eve evening in Chicago, already January in UTC) and January 2026; affiliate B's one void.

    TX1 is the closest warehouse to the Texas buyers; CA1 costs more and is the second source.
    """
    with clock_at(at(2025, 11, 1)):
        warehouse_register(code="TX1", state="TX", postal_code="75001")
        warehouse_register(code="CA1", state="CA", postal_code="90001")
    # feeds are fresh only for a day: each step below imports them again at its own moment
    a, b = affiliate_user(), affiliate_user()

    def feeds():
        import_feed("TX1", [("ACD", "P1", 50, "10.00"), ("ACD", "P2", 50, "4.00"),
                            ("ACD", "P3", 50, "6.00")])  # fmt: skip
        import_feed("CA1", [("ACD", "P1", 50, "12.00"), ("ACD", "P2", 50, "5.00")])

    # November: two lines filled at TX1; P3 misses at TX1 and nobody else has it: voided.
    with clock_at(at(2025, 11, 10)):
        feeds()
        scripted["TX1:P3"] = "miss"
        release_and_fulfill(place(a, ("P1", 1), ("P2", 2), marketplace_order_id="A-NOV-1"))
        release_and_fulfill(place(a, ("P3", 1), marketplace_order_id="A-NOV-2"))
    # New Year's Eve, 20:00 in Chicago (02:00 UTC on January 1st): P1 misses at TX1 and is
    # second-sourced at CA1, which costs 2.00 more a unit; FBS absorbs 2 x 2.00.
    with clock_at(datetime(2026, 1, 1, 2, tzinfo=UTC)):
        feeds()
        scripted["TX1:P1"] = "miss"
        release_and_fulfill(place(a, ("P1", 2), marketplace_order_id="A-DEC-1"))
        # B's line is voided: in the network's numbers, never in A's.
        scripted["CA1:P1"] = "miss"
        release_and_fulfill(place(b, ("P1", 1), marketplace_order_id="B-DEC-1"))
        # cancelled in the window, and one still in the queue: neither was released
        cancelled = place(a, ("P2", 1), marketplace_order_id="A-CANCELLED")
        services.order_cancel_request(order=cancelled, user=a, reason="test")
        place(a, ("P2", 1), marketplace_order_id="A-QUEUED")
    # January: filled at TX1 again.
    with clock_at(at(2026, 1, 20)):
        feeds()
        scripted.clear()
        release_and_fulfill(place(a, ("P2", 1), marketplace_order_id="A-JAN-1"))
    return a, b


def as_tuples(rows):
    return [
        (r.label, r.released, r.filled, r.voided, r.fill_rate, r.second_sourced, r.extra_cost)
        for r in rows
    ]


def test_fill_rate_by_month_counts_released_lines_in_the_month_they_were_decided(history):
    a, _ = history

    rows = selectors.fill_rate(affiliate=a.affiliate, group_by="month")

    assert as_tuples(rows) == [
        ("2025-11", 3, 2, 1, Decimal("66.7"), 0, Decimal("0.00")),
        ("2025-12", 1, 1, 0, Decimal("100.0"), 1, Decimal("4.00")),
        ("2026-01", 1, 1, 0, Decimal("100.0"), 0, Decimal("0.00")),
    ]
    assert rows[1].second_source_rate == Decimal("100.0")
    assert rows[0].period.isoformat() == "2025-11-01"


def test_fill_rate_by_year(history):
    a, _ = history

    rows = selectors.fill_rate(affiliate=a.affiliate, group_by="year")

    assert as_tuples(rows) == [
        ("2025", 4, 3, 1, Decimal("75.0"), 1, Decimal("4.00")),
        ("2026", 1, 1, 0, Decimal("100.0"), 0, Decimal("0.00")),
    ]
    assert rows[0].second_source_rate == Decimal("25.0")
    assert rows[0].void_rate == Decimal("25.0")


def test_fill_rate_of_everyone_includes_every_affiliate(history):
    rows = selectors.fill_rate(group_by="year")

    assert as_tuples(rows)[0] == ("2025", 5, 3, 2, Decimal("60.0"), 1, Decimal("4.00"))


def test_fill_rate_special_order_lines_count_as_voided(history):
    a, _ = history
    voided = OrderLine.objects.get(order__marketplace_order_id="A-NOV-2")
    services.order_special_order_request(order=voided.order, line_id=voided.pk, user=a)

    (november, *_) = selectors.fill_rate(affiliate=a.affiliate)

    assert (november.released, november.filled, november.voided) == (3, 2, 1)


def test_fill_rate_per_warehouse_counts_the_lines_it_was_sent_first(history):
    a, _ = history
    tx1 = Warehouse.objects.get(code="TX1")
    ca1 = Warehouse.objects.get(code="CA1")

    # Every line of A went to TX1 first: its misses are TX1's, second-sourced or voided.
    assert as_tuples(
        selectors.fill_rate(affiliate=a.affiliate, warehouse=tx1, group_by="year")
    ) == [
        ("2025", 4, 3, 1, Decimal("75.0"), 1, Decimal("4.00")),
        ("2026", 1, 1, 0, Decimal("100.0"), 0, Decimal("0.00")),
    ]
    # CA1 was never anyone's first choice: a second source does not answer for the line.
    assert selectors.fill_rate(warehouse=ca1.pk) == []

    by_warehouse = selectors.fill_rate_by_warehouse()
    assert [(r.warehouse_code, r.released, r.filled, r.voided) for r in by_warehouse] == [
        ("TX1", 6, 4, 2)
    ]


def test_fill_rate_by_warehouse_line_nobody_stocked_has_no_first_choice(scripted):
    user = affiliate_user()
    import_feed("TX1", [("ACD", "P1", 5, "10.00")])
    order = place(user, ("P1", 1))
    import_feed("TX1", [("ACD", "P9", 5, "10.00")], allow_empty=True)  # P1 gone everywhere
    release_and_fulfill(order)

    (row,) = selectors.fill_rate_by_warehouse(affiliate=user.affiliate)

    assert (row.warehouse_id, row.label, row.released, row.voided) == (
        None,
        "No warehouse had stock",
        1,
        1,
    )


def test_fill_rate_voids_from_the_sandbox_miss_rate(settings):
    # The sandbox warehouse, told to miss everything: the lines are voided and refunded.
    settings.FBS_SANDBOX_MISS_RATE = 1.0
    user = affiliate_user()
    import_feed("WH1", [("ACD", "P1", 10, "5.00"), ("ACD", "P2", 10, "8.00")])
    order = release_and_fulfill(place(user, ("P1", 1), ("P2", 1)))

    (row,) = selectors.fill_rate(affiliate=user.affiliate, group_by="year")

    assert order.status == "voided"
    assert (row.released, row.filled, row.voided, row.fill_rate) == (2, 0, 2, Decimal("0.0"))


def test_fill_rate_this_year_is_none_before_any_line(settings):
    user = affiliate_user()

    assert selectors.fill_rate_this_year(affiliate=user.affiliate) is None
    assert selectors.fill_rate(affiliate=user.affiliate) == []


def test_fill_rate_refuses_an_unknown_grouping():
    with pytest.raises(ValueError, match="group_by"):
        selectors.fill_rate(group_by="week")


def test_fill_rate_is_one_query(history, django_assert_num_queries):
    a, _ = history

    with django_assert_num_queries(1):
        selectors.fill_rate(affiliate=a.affiliate, group_by="month")


def test_fill_rate_line_still_being_routed_is_not_counted_yet(scripted):
    user = affiliate_user()
    import_feed("TX1", [("ACD", "P1", 5, "10.00")])
    order = place(user, ("P1", 1))
    services.order_release_due(now=order.release_at + timedelta(seconds=1))

    assert selectors.fill_rate(affiliate=user.affiliate) == []


def test_fill_rate_restocked_special_order_counts_for_its_new_first_choice(scripted):
    # given P3 only at TX1, which misses it: voided, then a special order
    user = affiliate_user()
    warehouse_register(code="TX1", state="TX", postal_code="75001")
    warehouse_register(code="CA1", state="CA", postal_code="90001")
    import_feed("TX1", [("ACD", "P3", 5, "6.00")])
    scripted["TX1:P3"] = "miss"
    order = release_and_fulfill(place(user, ("P3", 1)))
    line = order.lines.get()
    services.order_special_order_request(order=order, line_id=line.pk, user=user)
    # when stock appears at CA1 only, the refund is reversed and the line is sourced again
    import_feed("TX1", [("ACD", "P9", 5, "6.00")], allow_empty=True)
    import_feed("CA1", [("ACD", "P3", 5, "7.00")])
    assert services.special_orders_restock() == [line.pk]
    services.order_fulfill(order_id=order.pk)

    # then it is filled, and it counts for CA1, its first choice this time
    line.refresh_from_db()
    assert (line.status, line.warehouse.code) == ("fulfilled", "CA1")
    ca1, tx1 = Warehouse.objects.get(code="CA1"), Warehouse.objects.get(code="TX1")
    assert [(r.released, r.filled) for r in selectors.fill_rate(warehouse=ca1)] == [(1, 1)]
    assert selectors.fill_rate(warehouse=tx1) == []

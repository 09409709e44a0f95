"""The order rules, tested on the services directly."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from affiliates.services import payment_method_add_card, payment_method_set_default
from inventory.models import Item, Stock, Warehouse
from inventory.services import warehouse_register
from orders import services
from orders.connectors import ConnectorError, OneAtATimeConnector, Placement
from orders.errors import OrderRefusedError, OrderStatusError
from orders.models import Order, OrderEvent, OrderLine, SourcingAttempt
from orders.services import routing
from orders.transitions import ORDER_TRANSITIONS
from payments.models import LedgerEntry
from payments.selectors import ledger_balance
from tests.factories import CardFactory, UserFactory, import_feed

pytestmark = pytest.mark.django_db

SHIP_TX = {"name": "Ann Buyer", "address1": "1 Main St", "city": "Plano", "state": "TX",
           "postal_code": "75024"}  # fmt: skip


@pytest.fixture
def stock():
    warehouse_register(code="TX1", state="TX", postal_code="75001")
    warehouse_register(code="CA1", state="CA", postal_code="90001")
    warehouse_register(code="NY1", state="NY", postal_code="10001")
    import_feed("TX1", [("ACD", "P1", 5, "12.00"), ("ACD", "P2", 5, "3.00")])
    import_feed("CA1", [("ACD", "P1", 5, "10.00"), ("ACD", "P2", 5, "2.00")])
    import_feed("NY1", [("ACD", "P1", 5, "30.00")])


@pytest.fixture
def user(stock):
    user = UserFactory(affiliate__min_stock=2)
    CardFactory(affiliate=user.affiliate)
    return user


def place(user, *lines, marketplace_order_id="M-1", **kwargs):
    return services.order_place(
        affiliate=user.affiliate,
        user=user,
        marketplace="ebay",
        marketplace_order_id=marketplace_order_id,
        ship_to=SHIP_TX,
        lines=[{"line_code": "ACD", "part_number": p, "qty": q} for p, q in lines or [("P1", 1)]],
        **kwargs,
    )


def release(order):
    released = services.order_release_due(now=order.release_at + timedelta(seconds=1))
    order.refresh_from_db()
    return released


def ledger(order):
    return sorted((e.kind, e.amount) for e in LedgerEntry.objects.filter(order=order))


class ScriptedConnector(OneAtATimeConnector):
    """A warehouse connector whose answers the test sets: 'CODE' or 'CODE:PART' -> 'miss' or
    'error'; anything else is accepted."""

    script: dict = {}
    calls: list = []

    def place(self, *, warehouse, line, idempotency_key):
        ScriptedConnector.calls.append(warehouse.code)
        answer = self.script.get(
            f"{warehouse.code}:{line.part_number}", self.script.get(warehouse.code, "accept")
        )
        if answer == "error":
            raise ConnectorError(f"{warehouse.code} timed out")
        return Placement(answer == "accept", "accepted." if answer == "accept" else "no stock.")

    def tracking(self, *, warehouse, idempotency_key):
        return "TRACK-" + idempotency_key


class RacedConnector(ScriptedConnector):
    """Accepts, but while it was asked another run of the same order decided the line."""

    def place(self, *, warehouse, line, idempotency_key):
        OrderLine.objects.filter(pk=line.pk).update(status=OrderLine.Status.FULFILLED)
        return super().place(warehouse=warehouse, line=line, idempotency_key=idempotency_key)


@pytest.fixture
def scripted(settings):
    settings.FBS_WAREHOUSE_CONNECTOR = "tests.test_orders_services.ScriptedConnector"
    settings.FBS_CONNECTOR_BACKOFF_SECONDS = 0
    ScriptedConnector.script = {}
    ScriptedConnector.calls = []
    return ScriptedConnector


# --- placing and paying -----------------------------------------------------------------------


def test_order_place_with_card_on_file_is_charged_and_queued_for_the_window(user, settings):
    order = place(user, ("P1", 2))

    assert order.status == Order.Status.QUEUED
    assert order.total == Decimal("24.00")  # 2 x (10.00 cheapest cost x 1.20)
    assert order.release_at - order.paid_at == timedelta(seconds=settings.FBS_CANCEL_WINDOW_SECONDS)
    assert ledger(order) == [("charge", Decimal("24.00"))]
    assert [e.kind for e in order.events.all()] == ["placed", "paid"]
    assert order.min_stock_at_placement == 2
    assert order.card_on_file_at_placement is True


def test_order_place_commits_stock_for_everyone_at_once(user):
    place(user, ("P1", 4))

    item = Item.objects.get(part_number="P1")
    assert (item.stock_qty, item.committed_qty, item.available_qty) == (15, 4, 11)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([("NOPE", 1)], "not in your catalog"),
        ([("P1", 16)], "Only 15"),
        ([("P1", 10), ("P1", 6)], "16 asked"),  # the same item twice counts together
        ([("P1", 0)], "Qty must be"),
    ],
)
def test_order_place_refused_lines_say_why_and_nothing_is_kept(user, lines, message):
    with pytest.raises(OrderRefusedError) as refused:
        place(user, *lines)

    assert message in " ".join(p["message"] for p in refused.value.problems)
    assert not Order.objects.exists()
    assert Item.objects.get(part_number="P1").committed_qty == 0
    assert not LedgerEntry.objects.exists()


def test_order_place_hidden_item_is_refused_like_an_unknown_one(user):
    import_feed("TX1", [("ACD", "LOW", 1, "1.00")])

    with pytest.raises(OrderRefusedError, match="not placed") as refused:
        place(user, ("LOW", 1))

    assert "not in your catalog" in refused.value.problems[0]["message"]


def test_order_place_affiliates_min_stock_applies(stock):
    user = UserFactory(affiliate__min_stock=20)

    with pytest.raises(OrderRefusedError):
        place(user, ("P2", 1))  # 10 available: below this affiliate's min stock


def test_order_place_same_marketplace_number_twice_is_refused(user):
    place(user)

    with pytest.raises(OrderRefusedError) as refused:
        place(user)

    assert "already sent" in refused.value.problems[0]["message"]
    assert Order.objects.count() == 1


def test_order_place_without_payment_method_waits_and_window_starts_at_payment(stock, settings):
    user = UserFactory()

    order = place(user)
    assert order.status == Order.Status.AWAITING_PAYMENT
    assert order.release_at is None
    CardFactory(affiliate=user.affiliate)
    assert services.order_pay(order=order, user=user)

    order.refresh_from_db()
    assert order.status == Order.Status.QUEUED
    assert order.release_at == order.paid_at + timedelta(seconds=settings.FBS_CANCEL_WINDOW_SECONDS)


def test_order_pay_declined_leaves_it_waiting_and_next_try_is_a_new_charge(stock):
    user = UserFactory()
    declining = payment_method_add_card(
        affiliate=user.affiliate, number="4000000000000341", exp_month=12, exp_year=2039
    )
    order = place(user)

    assert order.status == Order.Status.AWAITING_PAYMENT
    assert order.payment_attempts == 1
    assert "declined" in order.events.get(kind="payment_declined").message
    good = CardFactory(affiliate=user.affiliate, is_default=False)
    payment_method_set_default(affiliate=user.affiliate, payment_method_id=good.pk)

    assert services.order_pay(order=order, user=user)
    assert ledger(order) == [("charge", order.total)]
    assert declining.pk != good.pk


# --- Cancel Request ---------------------------------------------------------------------------


def test_cancel_request_in_the_window_cancels_refunds_and_uncommits(
    user, mailoutbox, django_capture_on_commit_callbacks
):
    order = place(user, ("P1", 3))

    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.order_cancel_request(order=order, user=user, reason="buyer changed mind")

    order.refresh_from_db()
    assert outcome == "cancelled"
    assert order.status == Order.Status.CANCELLED
    assert ledger(order) == [("charge", order.total), ("refund", order.total)]
    assert Item.objects.get(part_number="P1").committed_qty == 0
    assert set(order.lines.values_list("status", flat=True)) == {"cancelled"}
    event = order.events.get(kind="cancel_request")
    assert (event.data["outcome"], event.actor) == ("cancelled", "affiliate")
    assert "buyer changed mind" in event.message
    assert "cancelled" in mailoutbox[0].subject


def test_cancel_request_twice_refunds_once(user):
    order = place(user)

    assert services.order_cancel_request(order=order, user=user) == "cancelled"
    assert services.order_cancel_request(order=order, user=user) == "cancelled"

    assert ledger(order) == [("charge", order.total), ("refund", order.total)]


def test_cancel_request_unpaid_order_owes_no_refund(stock):
    user = UserFactory()
    order = place(user)

    assert services.order_cancel_request(order=order, user=user) == "cancelled"
    assert ledger(order) == []


def test_cancel_request_after_release_is_too_late_and_recorded(user):
    order = place(user)
    release(order)

    outcome = services.order_cancel_request(order=order, user=user, reason="late")

    order.refresh_from_db()
    assert outcome == "too_late"
    assert order.status == Order.Status.PROCESSING
    assert ledger(order) == [("charge", order.total)]
    assert order.events.filter(kind="cancel_request", data__outcome="too_late").count() == 1


def test_cancel_request_stays_within_its_queries(user, django_assert_max_num_queries):
    # The plain read of its status, the lock and the compare-and-set, the commitments (one
    # UPDATE for every item), the lines, the gateway's refund (5 in the sandbox), the ledger row
    # (3) and the events (one INSERT).
    order = place(user, ("P1", 1), ("P2", 1))

    with django_assert_max_num_queries(18):
        assert services.order_cancel_request(order=order, user=user) == "cancelled"


def test_cancel_request_for_another_affiliates_order_is_refused_as_unknown(user):
    order = place(user)
    other = UserFactory(affiliate__min_stock=2)

    with pytest.raises(Order.DoesNotExist):
        services.order_cancel_request(order=order, user=other, affiliate=other.affiliate)

    order.refresh_from_db()
    assert order.status == Order.Status.QUEUED
    assert not order.events.filter(kind="cancel_request").exists()


def test_release_writes_its_events_in_one_statement(user, django_assert_max_num_queries):
    orders = [place(user, marketplace_order_id=f"M-{n}") for n in range(5)]

    with django_assert_max_num_queries(6):
        released = services.order_release_due(now=orders[-1].release_at + timedelta(seconds=1))

    assert sorted(released) == sorted(o.pk for o in orders)
    assert OrderEvent.objects.filter(order__in=orders, kind="released").count() == 5


def test_release_waits_for_the_window(user):
    order = place(user)

    assert services.order_release_due(now=order.release_at - timedelta(seconds=1)) == []
    assert release(order) == [order.pk]
    assert order.status == Order.Status.PROCESSING
    assert release(order) == []  # never released twice


def test_release_queues_fulfillment_after_commit(user, django_capture_on_commit_callbacks):
    order = place(user)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.order_release_due(now=order.release_at + timedelta(seconds=1))

    assert len(callbacks) == 1


def test_order_statuses_never_lead_back_into_the_queue():
    # order_cancel_request answers "too late" from a plain read on this: an order seen past the
    # queue can never be cancelled again.
    for source, targets in ORDER_TRANSITIONS.items():
        if source not in Order.CANCELLABLE:
            assert not set(targets) & set(Order.CANCELLABLE), source


# --- fulfillment ------------------------------------------------------------------------------


def test_fulfill_sends_each_line_to_the_closest_warehouse(user):
    order = place(user, ("P1", 1))
    release(order)

    assert services.order_fulfill(order_id=order.pk) == Order.Status.FULFILLED

    line = order.lines.get()
    assert line.warehouse.code == "TX1"  # closest to Plano, TX, though CA1 is cheaper
    assert not line.second_sourced
    stock = Item.objects.get(part_number="P1")
    assert (stock.stock_qty, stock.committed_qty, stock.available_qty) == (14, 0, 14)


def test_fulfill_cost_breaks_a_distance_tie(user):
    warehouse_register(code="TX2", state="TX", postal_code="75001")
    import_feed("TX2", [("ACD", "P1", 5, "11.00")])
    order = place(user, ("P1", 1))
    release(order)

    services.order_fulfill(order_id=order.pk)

    assert order.lines.get().warehouse.code == "TX2"


def test_fulfill_second_sources_a_miss_and_records_extra_cost(user, scripted):
    scripted.script = {"TX1": "miss"}
    order = place(user, ("P1", 2))
    release(order)

    services.order_fulfill(order_id=order.pk)

    line = order.lines.get()
    attempts = list(line.attempts.values_list("warehouse__code", "outcome", "second_source"))
    assert attempts == [("TX1", "missed", False), ("CA1", "accepted", True)]
    assert line.second_sourced
    assert line.extra_cost == Decimal("0.00")  # CA1 is cheaper than TX1: nothing extra
    assert order.events.filter(kind="sourcing_missed").exists()


def test_fulfill_second_source_regardless_of_price(user, scripted):
    scripted.script = {"TX1": "miss", "CA1": "miss"}
    order = place(user, ("P1", 2))
    release(order)

    services.order_fulfill(order_id=order.pk)

    line = order.lines.get()
    assert line.warehouse.code == "NY1"
    assert line.extra_cost == Decimal("36.00")  # (30.00 - 12.00) x 2, absorbed by FBS


def test_fulfill_nobody_can_fill_voids_and_refunds_at_once(
    user, scripted, mailoutbox, django_capture_on_commit_callbacks
):
    scripted.script = {"TX1": "miss", "CA1": "miss", "NY1": "miss"}
    order = place(user, ("P1", 1))
    release(order)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.order_fulfill(order_id=order.pk) == Order.Status.VOIDED

    line = order.lines.get()
    assert line.status == OrderLine.Status.VOIDED
    assert ledger(order) == [("charge", order.total), ("void", order.total)]
    assert Item.objects.get(part_number="P1").committed_qty == 0
    assert "special order" in mailoutbox[-1].body


def test_fulfill_partial_void_refunds_only_the_void_line(user, scripted):
    scripted.script = {"TX1:P1": "miss", "CA1:P1": "miss", "NY1:P1": "miss"}
    order = place(user, ("P1", 1), ("P2", 2))
    release(order)

    assert services.order_fulfill(order_id=order.pk) == Order.Status.PARTIALLY_VOIDED

    p1, p2 = order.lines.get(part_number="P1"), order.lines.get(part_number="P2")
    assert (p1.status, p2.status) == ("voided", "fulfilled")
    assert ledger(order) == sorted([("charge", order.total), ("void", p1.line_total)])


def test_fulfill_run_twice_moves_no_money_twice(user, scripted):
    scripted.script = {"TX1": "miss", "CA1": "miss", "NY1": "miss"}
    order = place(user, ("P1", 1), ("P2", 1))
    release(order)

    services.order_fulfill(order_id=order.pk)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PROCESSING)  # a replayed task
    services.order_fulfill(order_id=order.pk)

    assert LedgerEntry.objects.filter(order=order, kind="void").count() == 2
    assert SourcingAttempt.objects.filter(line__order=order).count() == 5


def test_fulfill_after_a_crash_between_lines_finishes_the_rest(user):
    order = place(user, ("P1", 1), ("P2", 1))
    release(order)
    first = order.lines.order_by("pk").first()

    services.order_line_route(line=first, order=order)  # the worker died after this line
    services.order_fulfill(order_id=order.pk)

    assert set(order.lines.values_list("status", flat=True)) == {"fulfilled"}
    assert SourcingAttempt.objects.filter(line=first).count() == 1
    assert ledger(order) == [("charge", order.total)]


def test_fulfill_warehouse_that_times_out_is_tried_three_times_then_the_next(user, scripted):
    scripted.script = {"TX1": "error"}
    order = place(user, ("P1", 1))
    release(order)

    services.order_fulfill(order_id=order.pk)

    line = order.lines.get()
    assert scripted.calls == ["TX1", "TX1", "TX1", "CA1"]
    assert line.warehouse.code == "CA1"
    assert order.events.filter(kind="sourcing_error").count() == 3


def test_fulfill_every_warehouse_erroring_ends_in_a_void_not_a_loop(user, scripted):
    scripted.script = {"TX1": "error", "CA1": "error", "NY1": "error"}
    order = place(user, ("P1", 1))
    release(order)

    assert services.order_fulfill(order_id=order.pk) == Order.Status.VOIDED
    assert len(scripted.calls) == 9


def test_fulfill_a_line_another_run_decided_meanwhile_is_placed_nowhere_else(
    user, scripted, settings
):
    settings.FBS_WAREHOUSE_CONNECTOR = "tests.test_orders_services.RacedConnector"
    order = place(user, ("P1", 1))
    release(order)

    assert services.order_fulfill(order_id=order.pk) == Order.Status.FULFILLED

    # not sent on to CA1 and NY1 once the line was no longer open
    assert scripted.calls == ["TX1"]
    assert SourcingAttempt.objects.filter(line__order=order).count() == 1


def test_fulfill_records_each_line_with_its_decision_and_settles_with_the_last(user):
    order = place(user, ("P1", 1), ("P2", 1))
    release(order)

    assert services.order_fulfill(order_id=order.pk) == Order.Status.FULFILLED

    kinds = list(order.events.order_by("pk").values_list("kind", "line__part_number"))
    assert kinds[-3:] == [
        ("sourcing_accepted", "P1"),
        ("sourcing_accepted", "P2"),
        ("settled", None),
    ]
    assert SourcingAttempt.objects.filter(line__order=order).count() == 2


def test_fulfill_of_a_two_line_order_stays_within_its_queries(user, django_assert_max_num_queries):
    # Reads: lines, their history, their candidates; the sandbox warehouse's 3; the decision's
    # 12 (the inventory lock, orders, stock rows, items and lines locked, one UPDATE each for
    # lines, stock and items, the attempts, the line statuses, the settle, the events), and the
    # test transaction's savepoint. Growing this is a cost on every batch: say why in the commit.
    order = place(user, ("P1", 1), ("P2", 1))
    release(order)

    with django_assert_max_num_queries(22):
        services.order_fulfill(order_id=order.pk)


def test_fulfill_batch_of_many_orders_takes_the_queries_of_one(user, django_assert_max_num_queries):
    # given 6 released orders of two lines each, more than TX1's 5 of P1
    orders = [place(user, ("P1", 1), ("P2", 1), marketplace_order_id=f"M-{n}") for n in range(6)]
    for order in orders:
        release(order)

    # when they are fulfilled together, in as many statements as one order takes
    with django_assert_max_num_queries(22):
        results = services.order_fulfill_batch(order_ids=[order.pk for order in orders])

    # then each is settled, each line placed once, with its own attempt and timeline
    assert set(results.values()) == {Order.Status.FULFILLED}
    assert set(OrderLine.objects.values_list("status", flat=True)) == {"fulfilled"}
    assert SourcingAttempt.objects.filter(outcome="accepted").count() == 12
    for order in orders:
        kinds = list(order.events.order_by("pk").values_list("kind", flat=True))
        assert kinds[-3:] == ["sourcing_accepted", "sourcing_accepted", "settled"]
    # the sixth P1 went to the next closest warehouse: TX1 had 5 (not a miss: it was not asked)
    p1_from = Counter(
        OrderLine.objects.filter(part_number="P1").values_list("warehouse__code", flat=True)
    )
    assert p1_from == {"TX1": 5, "CA1": 1}
    assert not SourcingAttempt.objects.exclude(outcome="accepted").exists()
    item = Item.objects.get(part_number="P1")
    assert (item.stock_qty, item.committed_qty, item.available_qty) == (9, 0, 9)


def test_fulfill_batch_with_one_bad_order_still_fulfills_the_others(user, monkeypatch, caplog):
    # given three released orders, one of which fails as it settles (a bug, a bad row)
    orders = [place(user, ("P1", 1), marketplace_order_id=f"M-{n}") for n in range(3)]
    for order in orders:
        release(order)
    bad = orders[1]
    settled = services.events.settled

    def settle_or_fail(order, **kwargs):
        if order.pk == bad.pk:
            raise ValueError("a bad order")
        return settled(order, **kwargs)

    monkeypatch.setattr(services.events, "settled", settle_or_fail)

    # when they are fulfilled as one batch
    results = services.order_fulfill_batch(order_ids=[order.pk for order in orders])

    # then the batch is retried order by order: the others are fulfilled, the bad one is left
    # processing, with nothing of it kept, for the stalled-run sweep and then Support
    assert results == {
        orders[0].pk: Order.Status.FULFILLED,
        bad.pk: None,
        orders[2].pk: Order.Status.FULFILLED,
    }
    bad.refresh_from_db()
    assert bad.status == Order.Status.PROCESSING
    assert bad.lines.get().status == OrderLine.Status.OPEN
    assert not SourcingAttempt.objects.filter(line__order=bad, outcome="accepted").exists()
    assert "one by one" in caplog.text


def test_fulfill_batch_decides_an_order_to_void_on_its_own(user, scripted, monkeypatch):
    # given a batch where one order's line nobody can fill, and a gateway that fails its refund
    scripted.script = {"TX1:P2": "miss", "CA1:P2": "miss"}
    clean = place(user, ("P1", 1), marketplace_order_id="CLEAN")
    voiding = place(user, ("P2", 1), marketplace_order_id="VOID")
    release(clean)
    release(voiding)

    seen_at_refund = []

    def refund_fails(self, **kwargs):
        seen_at_refund.append(Order.objects.get(pk=clean.pk).status)
        raise ConnectionError("the payment gateway did not answer")

    monkeypatch.setattr(type(services.get_gateway()), "refund", refund_fails)

    # when the batch is fulfilled
    services.order_fulfill_batch(order_ids=[clean.pk, voiding.pk])

    # then the clean order was decided before the gateway was asked, not while it answered;
    # the other is left processing, its line open and nothing refunded, for the next run
    assert seen_at_refund
    assert set(seen_at_refund) == {Order.Status.FULFILLED}
    clean.refresh_from_db()
    voiding.refresh_from_db()
    assert clean.status == Order.Status.FULFILLED
    assert voiding.status == Order.Status.PROCESSING
    assert voiding.lines.get().status == OrderLine.Status.OPEN
    assert not LedgerEntry.objects.filter(order=voiding, kind="void").exists()


# --- stalled runs -----------------------------------------------------------------------------


def test_stalled_processing_is_handed_out_again_then_flagged(
    user, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.FBS_MAX_FULFILLMENT_RUNS = 2
    order = place(user)
    release(order)
    later = order.processing_started_at
    for _ in range(2):
        later += timedelta(seconds=settings.FBS_PROCESSING_TIMEOUT_SECONDS + 1)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.order_redispatch_stalled(now=later) == [order.pk]

    order.refresh_from_db()
    assert order.needs_attention
    assert order.events.filter(kind="redispatched").count() == 2
    assert order.events.filter(kind="flagged").exists()
    assert any("stuck" in m.subject for m in mailoutbox)


def test_fresh_processing_is_not_redispatched(user):
    order = place(user)
    release(order)

    assert services.order_redispatch_stalled(now=timezone.now()) == []


# --- special orders ---------------------------------------------------------------------------


def voided_order(user, scripted):
    scripted.script = {"TX1": "miss", "CA1": "miss", "NY1": "miss"}
    order = place(user, ("P1", 1))
    release(order)
    services.order_fulfill(order_id=order.pk)
    scripted.script = {}
    order.refresh_from_db()
    return order


def test_special_order_from_void_to_reversal_to_fulfilled(user, scripted):
    order = voided_order(user, scripted)
    line = order.lines.get()

    services.order_special_order_request(order=order, line_id=line.pk, user=user)
    order.refresh_from_db()
    assert order.status == Order.Status.SPECIAL_ORDER

    # stock is already there (the connector missed, the feed says 15): the check reverses it
    assert services.special_orders_restock() == [line.pk]
    order.refresh_from_db()
    assert order.status == Order.Status.PROCESSING
    assert ledger(order) == sorted(
        [("charge", order.total), ("void", order.total), ("reversal", order.total)]
    )
    assert services.order_fulfill(order_id=order.pk) == Order.Status.FULFILLED
    assert ledger_balance(affiliate_id=user.affiliate_id) == order.total


def test_special_order_waits_until_an_import_brings_stock(user, scripted):
    order = voided_order(user, scripted)
    line = order.lines.get()
    for code in ("TX1", "CA1", "NY1"):
        import_feed(code, [("ACD", "P1", 0, "10.00")], allow_empty=True)
    services.order_special_order_request(order=order, line_id=line.pk, user=user)

    assert services.special_orders_restock() == []
    import_feed("CA1", [("ACD", "P1", 3, "10.00")])
    assert services.special_orders_restock() == [line.pk]


def test_special_order_failed_reversal_stays_open_and_tells_the_affiliate(
    user, scripted, mailoutbox, django_capture_on_commit_callbacks
):
    order = voided_order(user, scripted)
    line = order.lines.get()
    services.order_special_order_request(order=order, line_id=line.pk, user=user)
    declining = payment_method_add_card(
        affiliate=user.affiliate, number="4000000000000341", exp_month=12, exp_year=2039,
        make_default=True,
    )  # fmt: skip
    order.payment_method.delete()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.special_orders_restock() == []

    order.refresh_from_db()
    assert order.status == Order.Status.SPECIAL_ORDER
    assert order.events.filter(kind="reversal_failed").exists()
    assert "waiting for payment" in mailoutbox[-1].subject
    assert not LedgerEntry.objects.filter(order=order, kind="reversal").exists()
    assert declining.is_default


def test_special_order_withdrawn_ends_cancelled(user, scripted):
    order = voided_order(user, scripted)
    line = order.lines.get()
    services.order_special_order_request(order=order, line_id=line.pk, user=user)

    services.order_special_order_withdraw(order=order, line_id=line.pk, user=user)

    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.lines.get().status == OrderLine.Status.VOIDED


def test_special_order_only_on_a_voided_line(user):
    order = place(user)

    with pytest.raises(OrderStatusError):
        services.order_special_order_request(order=order, line_id=order.lines.get().pk, user=user)


# --- shipping ---------------------------------------------------------------------------------


def test_tracking_ships_the_order_and_no_cancel_exists_after(user, settings):
    settings.FBS_SANDBOX_TRACKING_SECONDS = 0
    order = place(user, ("P1", 1))
    release(order)
    services.order_fulfill(order_id=order.pk)

    assert services.shipments_poll() == 1

    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert order.lines.get().tracking_number.startswith("1Z")
    assert services.order_cancel_request(order=order, user=user) == "too_late"


def test_every_status_change_has_its_event(user, scripted):
    order = voided_order(user, scripted)
    services.order_special_order_request(order=order, line_id=order.lines.get().pk, user=user)
    services.special_orders_restock()
    services.order_fulfill(order_id=order.pk)

    moves = [(e.status_from, e.status_to) for e in order.events.exclude(status_to="")]
    assert moves == [
        ("", "awaiting_payment"),
        ("awaiting_payment", "queued"),
        ("queued", "processing"),
        ("processing", "voided"),
        ("voided", "special_order"),
        ("special_order", "processing"),
        ("processing", "fulfilled"),
    ]


def test_warehouse_register_location_is_used(stock):
    assert Warehouse.objects.get(code="TX1").state == "TX"


def test_warehouse_accepting_more_than_its_feed_shows_never_drives_stock_negative(
    user, scripted, monkeypatch
):
    # given two orders for the last 5 at TX1 (and 5 elsewhere), the second routed from a read
    # of TX1's stock made before the first one took them
    order_a = place(user, ("P2", 5), marketplace_order_id="A")
    order_b = place(user, ("P2", 5), marketplace_order_id="B")
    release(order_a)
    release(order_b)
    stale_tx1 = Stock.objects.select_related("warehouse").get(
        warehouse__code="TX1", item__part_number="P2"
    )
    assert services.order_fulfill(order_id=order_a.pk) == Order.Status.FULFILLED

    # when TX1 accepts the second one too, against a feed that no longer has them
    monkeypatch.setattr(
        routing, "_candidates", lambda lines: {line.pk: [stale_tx1] for line in lines}
    )
    assert services.order_fulfill(order_id=order_b.pk) == Order.Status.FULFILLED

    # then stock stays at zero, nothing is committed, and available is what the feeds hold
    assert order_b.lines.get().warehouse.code == "TX1"
    item = Item.objects.get(part_number="P2")
    assert Stock.objects.get(pk=stale_tx1.pk).qty == 0
    assert (item.stock_qty, item.committed_qty, item.available_qty) == (5, 0, 5)


def test_release_whose_queueing_was_lost_is_handed_out_by_the_stalled_sweep(
    user, settings, celery_sent, django_capture_on_commit_callbacks
):
    # given a sweep that committed the release but died before queueing fulfillment
    order = place(user)
    with django_capture_on_commit_callbacks(execute=False):
        services.order_release_due(now=order.release_at + timedelta(seconds=1))
    order.refresh_from_db()
    assert order.status == Order.Status.PROCESSING
    assert celery_sent == []

    # when the timeout has passed, the next sweep queues it again
    later = order.processing_started_at + timedelta(
        seconds=settings.FBS_PROCESSING_TIMEOUT_SECONDS + 1
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.order_redispatch_stalled(now=later)

    assert celery_sent == [("orders.tasks.order_fulfill_batch_task", ([order.pk],), {})]


def test_release_with_the_broker_down_still_commits(
    user, monkeypatch, django_capture_on_commit_callbacks
):
    from celery.app.task import Task

    def broker_down(self, *args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(Task, "apply_async", broker_down)
    order = place(user)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        released = services.order_release_due(now=order.release_at + timedelta(seconds=1))

    order.refresh_from_db()
    assert len(callbacks) == 1  # it ran, and the broker error did not escape
    assert released == [order.pk]
    assert order.status == Order.Status.PROCESSING


def test_order_place_reports_every_problem_at_once(user):
    ship = SHIP_TX | {"postal_code": "ABCDE", "state": "XX"}

    with pytest.raises(OrderRefusedError) as refused:
        services.order_place(
            affiliate=user.affiliate,
            user=user,
            marketplace="ebay",
            marketplace_order_id="M-ALL",
            ship_to=ship,
            lines=[
                {"line_code": "ACD", "part_number": "NOPE", "qty": 1},
                {"line_code": "ACD", "part_number": "P1", "qty": 0},
            ],
        )

    messages = " ".join(p["message"] for p in refused.value.problems)
    assert "ZIP code must be 5 digits" in messages
    assert "two-letter US state" in messages
    assert "NOPE is not in your catalog" in messages  # found in the same round
    assert "Qty must be" in messages


def test_order_uses_a_valid_card_when_the_default_has_expired(stock):
    user = UserFactory()
    CardFactory(affiliate=user.affiliate, exp_year=2020, is_default=True)
    CardFactory(affiliate=user.affiliate, is_default=False)

    order = place(user)

    assert order.status == Order.Status.QUEUED


def test_special_order_after_the_rest_of_the_order_shipped(user, scripted, settings):
    settings.FBS_SANDBOX_TRACKING_SECONDS = 0
    scripted.script = {"TX1:P1": "miss", "CA1:P1": "miss", "NY1:P1": "miss"}
    order = place(user, ("P1", 1), ("P2", 1))
    release(order)
    services.order_fulfill(order_id=order.pk)
    services.shipments_poll()
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED

    services.order_special_order_request(
        order=order, line_id=order.lines.get(part_number="P1").pk, user=user
    )

    order.refresh_from_db()
    assert order.status == Order.Status.SPECIAL_ORDER

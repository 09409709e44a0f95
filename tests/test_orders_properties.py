"""A state machine over the order services: random sequences of what affiliates, warehouses,
feeds, the clock and replayed tasks do, with the money and stock invariants checked after every
step (Hypothesis stateful testing)."""

import contextlib
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from affiliates.services import payment_method_add_card, payment_method_set_default
from inventory.models import Item
from inventory.services import warehouse_register
from orders import services
from orders.errors import OrderRefusedError, OrderStatusError, PaymentMethodMissingError
from orders.models import Order, OrderEvent, OrderLine
from payments.models import LedgerEntry
from tests.factories import CardFactory, UserFactory, import_feed
from tests.test_orders_services import ScriptedConnector

PARTS = ["P1", "P2", "P3"]
WAREHOUSES = ["TX1", "CA1"]
SHIP = {"name": "A", "address1": "1 St", "city": "Austin", "state": "TX", "postal_code": "73301"}
SIGN = {"charge": 1, "reversal": 1, "refund": -1, "void": -1, "credit": -1}
# Order statuses whose paid lines the affiliate still owes for.
OWED_LINE_STATUSES = {OrderLine.Status.OPEN, OrderLine.Status.FULFILLED, OrderLine.Status.SHIPPED}


class OrdersMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self._settings = override_settings(
            FBS_WAREHOUSE_CONNECTOR="tests.test_orders_services.ScriptedConnector",
            FBS_CONNECTOR_BACKOFF_SECONDS=0,
            FBS_SANDBOX_TRACKING_SECONDS=0,
        )
        self._settings.enable()
        ScriptedConnector.script = {}
        ScriptedConnector.calls = []
        for code, state in zip(WAREHOUSES, ["TX", "CA"], strict=True):
            warehouse_register(code=code, state=state, postal_code="75001")
            import_feed(code, [("ACD", p, 4, "5.00") for p in PARTS])
        self.user = UserFactory()
        self.card = CardFactory(affiliate=self.user.affiliate)
        self.now = timezone.now()
        self.count = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)
        self._settings.disable()

    # --- what happens ---------------------------------------------------------------------

    @rule(lines=st.lists(st.tuples(st.sampled_from(PARTS), st.integers(1, 3)), min_size=1,
                         max_size=2, unique_by=lambda t: t[0]))  # fmt: skip
    def place(self, lines):
        self.count += 1
        # Not enough stock: refused whole, which the invariants check.
        with contextlib.suppress(OrderRefusedError):
            services.order_place(
                affiliate=self.user.affiliate,
                user=self.user,
                marketplace="ebay",
                marketplace_order_id=f"H-{self.count}",
                ship_to=SHIP,
                lines=[{"line_code": "ACD", "part_number": p, "qty": q} for p, q in lines],
            )

    @rule(declining=st.booleans())
    def switch_card(self, declining):
        """The affiliate's default becomes a declining card, or a good one again."""
        number = "4000000000000341" if declining else "4242424242424242"
        method = payment_method_add_card(
            affiliate=self.user.affiliate, number=number, exp_month=12, exp_year=2039
        )
        payment_method_set_default(affiliate=self.user.affiliate, payment_method_id=method.pk)

    @rule(data=st.data())
    def pay(self, data):
        order = self._pick(data, Order.Status.AWAITING_PAYMENT)
        if order is not None:
            with contextlib.suppress(OrderStatusError, PaymentMethodMissingError):
                services.order_pay(order=order, user=self.user)

    @rule(data=st.data())
    def cancel_request(self, data):
        order = self._pick(data)
        if order is not None:
            services.order_cancel_request(order=order, user=self.user, reason="h")

    @rule(seconds=st.sampled_from([60, 1800, 3600]))
    def advance_clock_and_release(self, seconds):
        self.now += timedelta(seconds=seconds)
        services.order_release_due(now=self.now)

    @rule(data=st.data(), misses=st.sets(st.sampled_from(WAREHOUSES)))
    def fulfill(self, data, misses):
        ScriptedConnector.script = dict.fromkeys(misses, "miss")
        order = self._pick(data, Order.Status.PROCESSING)
        if order is not None:
            services.order_fulfill(order_id=order.pk)

    @rule(data=st.data())
    def replay_fulfillment(self, data):
        """A task delivered twice, after its order settled."""
        order = self._pick(data)
        if order is not None:
            services.order_fulfill(order_id=order.pk)
            services.order_settle(order_id=order.pk)

    @rule(part=st.sampled_from(PARTS), code=st.sampled_from(WAREHOUSES), qty=st.integers(0, 8))
    def feed_restock(self, part, code, qty):
        import_feed(code, [("ACD", p, qty if p == part else 4, "5.00") for p in PARTS])

    @rule(data=st.data())
    def special_order(self, data):
        line = self._pick_line(data, OrderLine.Status.VOIDED)
        if line is not None:
            with contextlib.suppress(OrderStatusError):
                services.order_special_order_request(
                    order=line.order, line_id=line.pk, user=self.user
                )

    @rule(data=st.data())
    def withdraw(self, data):
        line = self._pick_line(data, OrderLine.Status.SPECIAL_ORDER)
        if line is not None:
            services.order_special_order_withdraw(order=line.order, line_id=line.pk, user=self.user)

    @rule()
    def special_orders_check_twice(self):
        services.special_orders_restock()
        services.special_orders_restock()

    @rule()
    def ship(self):
        services.shipments_poll()

    @rule()
    def stalled_sweep(self):
        self.now += timedelta(hours=1)
        services.order_redispatch_stalled(now=self.now)

    def _pick(self, data, status=None):
        orders = Order.objects.order_by("pk")
        if status:
            orders = orders.filter(status=status)
        ids = list(orders.values_list("pk", flat=True))
        if not ids:
            return None
        return Order.objects.select_related("affiliate").get(pk=data.draw(st.sampled_from(ids)))

    def _pick_line(self, data, status):
        ids = list(
            OrderLine.objects.filter(status=status).order_by("pk").values_list("pk", flat=True)
        )
        if not ids:
            return None
        return OrderLine.objects.select_related("order").get(pk=data.draw(st.sampled_from(ids)))

    # --- what must stay true --------------------------------------------------------------

    @invariant()
    def money_matches_what_is_owed(self):
        for order in Order.objects.prefetch_related("lines", "ledger_entries"):
            net = sum((SIGN[e.kind] * e.amount for e in order.ledger_entries.all()), Decimal("0"))
            paid = order.paid_at is not None and order.status != Order.Status.CANCELLED
            owed = sum(
                (ln.line_total for ln in order.lines.all() if ln.status in OWED_LINE_STATUSES),
                Decimal("0"),
            )
            assert net == (owed if paid else Decimal("0")), (order.number, order.status)

    @invariant()
    def no_line_both_filled_and_refunded(self):
        for line in OrderLine.objects.filter(status__in=["fulfilled", "shipped"]):
            keys = LedgerEntry.objects.filter(
                order_id=line.order_id, kind="void",
                idempotency_key__endswith=f":line:{line.pk}:void:{line.reversal_attempts_done}",
            )  # fmt: skip
            assert not keys.exists(), line

    @invariant()
    def committed_stock_is_exactly_the_open_lines(self):
        committed = Counter()
        for line in OrderLine.objects.filter(committed=True):
            committed[line.item_id] += line.qty
        for item in Item.objects.all():
            assert item.committed_qty == committed[item.pk] >= 0, item
            assert item.available_qty == item.stock_qty - item.committed_qty, item
        open_orders = Order.objects.filter(status__in=Order.OPEN_STATUSES)
        open_qty = OrderLine.objects.filter(order__in=open_orders, status="open").aggregate(
            n=Sum("qty")
        )["n"]
        assert sum(committed.values()) == (open_qty or 0)

    @invariant()
    def every_status_has_its_event(self):
        for order in Order.objects.all():
            last = (
                OrderEvent.objects.filter(order=order).exclude(status_to="").order_by("pk").last()
            )
            assert last is not None, order
            assert last.status_to == order.status, (order.number, last.kind)


@pytest.mark.django_db
def test_order_services_keep_money_stock_and_timeline_consistent():
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        OrdersMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )

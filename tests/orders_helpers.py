"""Helpers for the orders page tests: stock, an affiliate user, orders placed and moved through
the real services, a warehouse connector whose answers a test sets, and a fixed clock."""

from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

from orders import services
from orders.connectors import OneAtATimeConnector, Placement
from tests.factories import CardFactory, UserFactory, import_feed

SHIP_TO = {
    "name": "Ann Buyer",
    "address1": "1 Main St",
    "address2": "",
    "city": "Plano",
    "state": "TX",
    "postal_code": "75024",
    "country": "US",
}


def stock_up(code: str = "WH1", rows=None):
    """Stock at one warehouse: ACD P1, P2, P3, ten of each, unless `rows` says otherwise. The
    warehouse's stock becomes exactly that, whatever it held (a set-up, so the feed guard's limit
    on taking stock away is lifted: allow_empty)."""
    return import_feed(
        code,
        rows or [("ACD", "P1", 10, "5.00"), ("ACD", "P2", 10, "8.00"), ("ACD", "P3", 10, "2.00")],
        allow_empty=True,
    )


def affiliate_user(*, card: bool = True, **affiliate):
    """An affiliate's user; with a valid card on file by default, so its orders are charged."""
    user = UserFactory(**{f"affiliate__{k}": v for k, v in affiliate.items()})
    if card:
        CardFactory(affiliate=user.affiliate)
    return user


def place(user, *lines, marketplace_order_id: str = "M-1", ship_to=None, **kwargs):
    """Place an order through orders.services: lines as (part_number, qty), line code ACD."""
    return services.order_place(
        affiliate=user.affiliate,
        user=user,
        marketplace=kwargs.pop("marketplace", "ebay"),
        marketplace_order_id=marketplace_order_id,
        ship_to=ship_to or SHIP_TO,
        lines=[{"line_code": "ACD", "part_number": p, "qty": q} for p, q in lines or [("P1", 1)]],
        **kwargs,
    )


def release(order):
    """Close the order's cancel window: the release sweep run just after release_at."""
    services.order_release_due(now=order.release_at + timedelta(seconds=1))
    order.refresh_from_db()
    return order


def release_and_fulfill(order):
    release(order)
    services.order_fulfill(order_id=order.pk)
    order.refresh_from_db()
    return order


def new_order_post(lines=(("ACD", "P1", "1"),), rows: int = 5, **fields) -> dict:
    """The POST of the New order page: the order fields and `rows` line rows (the first ones
    filled from `lines`, the rest empty)."""
    data = {
        "marketplace": "ebay",
        "marketplace_order_id": "EB-100",
        "ship_name": SHIP_TO["name"],
        "ship_address1": SHIP_TO["address1"],
        "ship_address2": "",
        "ship_city": SHIP_TO["city"],
        "ship_state": SHIP_TO["state"],
        "ship_postal_code": SHIP_TO["postal_code"],
        "ship_country": "US",
        "lines-TOTAL_FORMS": str(rows),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "100",
    }
    lines = list(lines)
    for index in range(rows):
        line_code, part_number, qty = lines[index] if index < len(lines) else ("", "", "")
        data[f"lines-{index}-line_code"] = line_code
        data[f"lines-{index}-part_number"] = part_number
        data[f"lines-{index}-qty"] = qty
    data.update(fields)
    return data


class ScriptedConnector(OneAtATimeConnector):
    """A warehouse connector whose answers the test sets: script["CODE:PART"] = "miss" makes that
    warehouse miss that part; anything not scripted is accepted."""

    script: dict = {}

    def place(self, *, warehouse, line, idempotency_key):
        answer = self.script.get(f"{warehouse.code}:{line.part_number}", "accept")
        if answer == "accept":
            return Placement(True, "accepted.", "WO-" + idempotency_key)
        return Placement(False, "the shelf was empty.")

    def tracking(self, *, warehouse, idempotency_key):
        return "1Z" + idempotency_key.replace(":", "")


@contextmanager
def clock_at(moment):
    """Run the services as if it were `moment`: every timezone.now() answers it."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield

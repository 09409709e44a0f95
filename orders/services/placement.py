"""Placing an order: checking what was sent, committing the stock, charging at once when a
valid method is on file; once per Idempotency-Key for the API.
"""

import contextlib
import re
from collections import Counter
from decimal import Decimal

from django.db import IntegrityError, transaction

from affiliates.models import Affiliate, Marketplace
from affiliates.selectors import affiliate_default_payment_method
from inventory.models import Item, visibility_threshold
from orders import events
from orders.errors import (
    IdempotencyKeyReusedError,
    OrderRefusedError,
    OrderStatusError,
    PaymentMethodMissingError,
)
from orders.geo import STATE_CENTRES
from orders.locks import (
    lock_affiliate,
    lock_affiliate_only,
    lock_items,
)
from orders.models import ApiIdempotencyKey, Order, OrderLine
from orders.services._common import (
    Status,
    _commit_stock,
)
from orders.services.payment import (
    order_pay,
)
from payments.models import CENT

# A line's qty and an order's size: generous for drop-ship, small enough to catch typos.
MAX_LINE_QTY = 999


MAX_LINES = 100


def _check_lines(lines: list[dict]) -> tuple[list[dict], list[dict]]:
    problems, clean = [], []
    if not lines:
        problems.append({"line": None, "message": "An order needs at least one line."})
    if len(lines) > MAX_LINES:
        problems.append({"line": None, "message": f"An order has at most {MAX_LINES} lines."})
    for number, raw in enumerate(lines, start=1):
        line_code = str(raw.get("line_code") or "").strip().upper()
        part_number = str(raw.get("part_number") or "").strip().upper()
        try:
            qty = int(raw.get("qty"))
        except (TypeError, ValueError):
            qty = None
        if not line_code or not part_number:
            problems.append({"line": number, "message": "Line code and part number are needed."})
        elif qty is None or not 1 <= qty <= MAX_LINE_QTY:
            problems.append(
                {"line": number, "message": f"Qty must be a whole number from 1 to {MAX_LINE_QTY}."}
            )
        else:
            clean.append(
                {"line": number, "line_code": line_code, "part_number": part_number, "qty": qty}
            )
    return clean, problems


SHIP_TO_FIELDS = {
    # field: (label, longest value)
    "name": ("Buyer name", 200),
    "address1": ("Address", 200),
    "address2": ("Address line 2", 200),
    "city": ("City", 100),
    "state": ("State", 2),
    "postal_code": ("ZIP code", 10),
    "country": ("Country", 2),
}


_ZIP = re.compile(r"^\d{5}(-\d{4})?$")


def _check_ship_to(ship_to: dict) -> tuple[dict, list[dict]]:
    clean, problems = {}, []

    def problem(field, message):
        problems.append({"line": None, "field": field, "message": message})

    for name, (label, max_length) in SHIP_TO_FIELDS.items():
        value = str(ship_to.get(name) or "").strip()
        if name in ("state", "country"):
            value = value.upper()
        if not value and name not in ("address2", "country"):
            problem(name, f"{label} is needed.")
        elif len(value) > max_length:
            problem(name, f"{label} is longer than {max_length} characters.")
        clean[name] = value
    clean["country"] = clean["country"] or "US"
    if clean["country"] != "US":
        problem("country", "FBS ships to US addresses only.")
    if clean["state"] and clean["state"] not in STATE_CENTRES:
        problem("state", "State must be a two-letter US state code, e.g. TX.")
    if clean["postal_code"] and not _ZIP.match(clean["postal_code"]):
        problem("postal_code", "ZIP code must be 5 digits, or ZIP+4 (75001-1234).")
    return clean, problems


def order_place(
    *,
    affiliate: Affiliate,
    user=None,
    marketplace: str,
    marketplace_order_id: str,
    ship_to: dict,
    lines: list[dict],
    pay: bool = True,
) -> Order:
    """Place an order: every line a visible item with enough available, stock committed at once.

    Anything wrong refuses the whole order with OrderRefusedError listing each problem, and keeps
    nothing. With a valid payment method on file the order is charged straight away.
    """
    marketplace_order_id = (marketplace_order_id or "").strip()
    problems = _check_marketplace(marketplace, marketplace_order_id)
    ship, ship_problems = _check_ship_to(ship_to or {})
    clean_lines, line_problems = _check_lines(list(lines or []))
    # Every problem is reported at once: these, and below the catalog and stock of each line.
    problems += ship_problems + line_problems

    with transaction.atomic():
        # The affiliate row lock makes the marketplace-number check and the placement one step.
        affiliate = lock_affiliate(affiliate.pk)
        problems[:0] = _marketplace_number_used(affiliate, marketplace_order_id)
        found = _find_items(clean_lines)
        items = lock_items(found.values())
        wanted, stock_problems = _check_stock(clean_lines, found, items, affiliate)
        problems += stock_problems
        if problems:
            raise OrderRefusedError("The order was not placed.", problems=problems)
        order = _create_order(affiliate, user, marketplace, marketplace_order_id, ship)
        _create_lines(order, clean_lines, [items[found[_key(ln)]] for ln in clean_lines])
        _commit_stock(wanted, +1)
        order.save(update_fields=["total"])
        events.placed(order, user=user)

    if pay:
        _pay_if_method_on_file(order=order, user=user)
        order.refresh_from_db()
    return order


def _key(line: dict) -> tuple[str, str]:
    return line["line_code"], line["part_number"]


def _check_marketplace(marketplace: str, marketplace_order_id: str) -> list[dict]:
    problems = []
    if marketplace not in Marketplace.values:
        problems.append({"line": None, "field": "marketplace", "message": "Unknown marketplace."})
    if not marketplace_order_id or len(marketplace_order_id) > 100:
        problems.append(
            {
                "line": None,
                "field": "marketplace_order_id",
                "message": "The marketplace order number is needed (at most 100 characters).",
            }
        )
    return problems


def _marketplace_number_used(affiliate: Affiliate, marketplace_order_id: str) -> list[dict]:
    """The problem to report first when the affiliate already sent this marketplace number (the
    caller holds the affiliate's lock)."""
    if (
        marketplace_order_id
        and Order.objects.filter(
            affiliate=affiliate, marketplace_order_id=marketplace_order_id
        ).exists()
    ):
        return [
            {
                "line": None,
                "field": "marketplace_order_id",
                "message": "You already sent "
                f"an order with marketplace order number {marketplace_order_id}.",
            }
        ]
    return []


def _find_items(clean_lines: list[dict]) -> dict[tuple[str, str], int]:
    """The item id of each (line code, part number) asked for that exists, in one query."""
    keys = {_key(ln) for ln in clean_lines}
    return {
        (i.line_code, i.part_number): i.pk
        for i in Item.objects.filter(
            line_code__in={k[0] for k in keys}, part_number__in={k[1] for k in keys}
        ).only("pk", "line_code", "part_number")
    }


def _check_stock(clean_lines, found, items, affiliate) -> tuple[Counter, list[dict]]:
    """What the order asks of each item (for _commit_stock), and the lines this affiliate
    cannot have: not in its catalog, or not that many available (the items are locked)."""
    threshold = visibility_threshold(affiliate)
    wanted, problems = Counter(), []
    for ln in clean_lines:
        item_id = found.get(_key(ln))
        if item_id is not None:
            wanted[item_id] += ln["qty"]
    for ln in clean_lines:
        item_id = found.get(_key(ln))
        item = items.get(item_id)
        # A hidden item answers like an unknown one: it does not exist for this affiliate.
        if item is None or item.available_qty < threshold:
            problems.append(
                {
                    "line": ln["line"],
                    "message": f"{ln['line_code']} {ln['part_number']} is not in your catalog.",
                }
            )
        elif item.available_qty < wanted[item_id]:
            problems.append(
                {
                    "line": ln["line"],
                    "message": f"Only {item.available_qty} of {ln['line_code']} "
                    f"{ln['part_number']} available; {wanted[item_id]} asked.",
                }
            )
    return wanted, problems


def _create_order(affiliate, user, marketplace, marketplace_order_id, ship: dict) -> Order:
    return Order.objects.create(
        affiliate=affiliate,
        placed_by=user,
        marketplace=marketplace,
        marketplace_order_id=marketplace_order_id,
        ship_name=ship["name"],
        ship_address1=ship["address1"],
        ship_address2=ship["address2"],
        ship_city=ship["city"],
        ship_state=ship["state"],
        ship_postal_code=ship["postal_code"],
        ship_country=ship["country"],
        status=Status.AWAITING_PAYMENT,
        min_stock_at_placement=affiliate.min_stock,
        card_on_file_at_placement=affiliate.payment_methods.cards().valid().exists(),
    )


def _create_lines(order: Order, clean_lines: list[dict], items: list[Item]) -> None:
    """The order's lines, priced from their items, in one INSERT; order.total set (not saved)."""
    total = Decimal("0.00")
    order_lines = []
    for ln, item in zip(clean_lines, items, strict=True):
        line_total = (item.price * ln["qty"]).quantize(CENT)
        total += line_total
        order_lines.append(
            OrderLine(
                order=order,
                item=item,
                line_code=item.line_code,
                part_number=item.part_number,
                qty=ln["qty"],
                unit_price=item.price,
                line_total=line_total,
                committed=True,
            )
        )
    OrderLine.objects.bulk_create(order_lines)
    order.total = total


def _pay_if_method_on_file(*, order: Order, user) -> None:
    """After placement has committed: charge the new order at once when a valid method is on
    file; a decline leaves it waiting for payment."""
    if affiliate_default_payment_method(affiliate=order.affiliate) is None:
        return
    # Cancelled, or the method left the file, in the meantime: the order stays as it is.
    with contextlib.suppress(OrderStatusError, PaymentMethodMissingError):
        order_pay(order=order, user=user)


def _idempotency_key_stored(affiliate: Affiliate, key: str) -> ApiIdempotencyKey | None:
    return (
        ApiIdempotencyKey.objects.filter(affiliate=affiliate, key=key)
        .select_related("order__affiliate")
        .first()
    )


def order_place_once(
    *, affiliate: Affiliate, user, key: str, request_hash: str, data: dict
) -> tuple[Order, bool]:
    """Place the order once per (affiliate, key); (order, True) when it was placed before.

    How it stays one order and one charge, even for two identical requests at the same moment:
    - The order and its key row are written in one transaction, under the affiliate's row lock
      (the lock order_place itself takes for every placement of the affiliate). The key is looked
      up after the lock is held, so a second request waits for the first to commit and then
      finds its key: it answers with the first order and places nothing. The unique
      (affiliate, key) constraint backs this up: an insert that loses anyway rolls its order
      back whole and answers from the winner's row.
    - The money moves only after that commit: order_place(pay=False), then the charge that
      order_place(pay=True) makes after its own transaction. A charge is never made for an order
      that could still be rolled back, and no gateway call is made under the lock.
    - A repeat never charges: it answers with the order as it is now. If the first request died
      between the commit and the charge, that order is awaiting_payment and POST .../pay pays it
      (order_pay's gateway key is per order and attempt: a pay racing a charge in flight replays
      it, never doubles it).
    - A refused order keeps no key (there is no order to point at): the same key can be sent
      again once the problems are fixed.
    """
    placed = None
    try:
        with transaction.atomic():
            lock_affiliate_only(affiliate.pk)
            stored = _idempotency_key_stored(affiliate, key)
            if stored is None:
                placed = order_place(affiliate=affiliate, user=user, pay=False, **data)
                ApiIdempotencyKey.objects.create(
                    affiliate=affiliate, key=key, request_hash=request_hash, order=placed
                )
    except IntegrityError:
        placed = None
        stored = _idempotency_key_stored(affiliate, key)
        if stored is None:
            raise
    if placed is not None:
        _pay_if_method_on_file(order=placed, user=user)
        return placed, False
    if stored.request_hash != request_hash:
        raise IdempotencyKeyReusedError(
            f"This Idempotency-Key was already used for a different order "
            f"({stored.order.number}). Send a new key for a new order.",
            field="Idempotency-Key",
        )
    return stored.order, True

"""Reads of orders that pages, the API and admin share. Every affiliate read is scoped to the
affiliate: another affiliate's order does not exist (Order.DoesNotExist, a 404)."""

import re

from django.db.models import Prefetch, QuerySet

from orders.models import Order, OrderEvent, OrderLine

_OUR_NUMBER = re.compile(r"^\s*(?:FBS-?)?0*(\d{1,12})\s*$", re.IGNORECASE)


def orders_for_affiliate(*, affiliate, status: str = "", search: str = "") -> QuerySet[Order]:
    """The affiliate's orders, newest first, by status and by our or the marketplace's number."""
    orders = Order.objects.filter(affiliate=affiliate)
    if status:
        orders = orders.filter(status=status)
    search = (search or "").strip()
    if search:
        match = _OUR_NUMBER.match(search)
        if match and search.upper().startswith("FBS"):
            orders = orders.filter(pk=int(match.group(1)))
        elif match:
            orders = orders.filter(pk=int(match.group(1))) | orders.filter(
                marketplace_order_id__iexact=search
            )
        else:
            orders = orders.filter(marketplace_order_id__iexact=search)
    return orders.order_by("-created_at", "-id")


def order_for_affiliate(*, affiliate, order_id: int) -> Order:
    """One order of this affiliate with its lines, their attempts and its timeline."""
    return (
        Order.objects.filter(affiliate=affiliate)
        .select_related("payment_method")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=OrderLine.objects.select_related("warehouse").prefetch_related(
                    "attempts__warehouse"
                ),
            ),
            Prefetch("events", queryset=OrderEvent.objects.select_related("user", "line")),
            "ledger_entries",
        )
        .get(pk=order_id)
    )


def order_status_counts(*, affiliate) -> dict[str, int]:
    from django.db.models import Count

    rows = Order.objects.filter(affiliate=affiliate).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}

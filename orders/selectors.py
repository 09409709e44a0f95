"""Reads of orders that pages, the API and admin share. Every affiliate read is scoped to the
affiliate: another affiliate's order does not exist (Order.DoesNotExist, a 404)."""

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Count,
    DecimalField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncMonth, TruncYear
from django.utils import timezone

from orders.models import Order, OrderEvent, OrderLine, SourcingAttempt

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


def order_summary_for_affiliate(*, affiliate, order_id: int) -> Order:
    """One order of this affiliate with what the API answers of an order (orders.serializers):
    its lines with their warehouse, and its ledger rows for the money. Not the timeline nor the
    sourcing attempts, which only the order page shows (order_for_affiliate)."""
    return (
        Order.objects.filter(affiliate=affiliate)
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("warehouse")),
            "ledger_entries",
        )
        .get(pk=order_id)
    )


def order_status_counts(*, affiliate) -> dict[str, int]:
    from django.db.models import Count

    rows = Order.objects.filter(affiliate=affiliate).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


# --- Fill rate --------------------------------------------------------------------------------

# How the fill rate groups periods: by the month or the year a line was decided.
FILL_RATE_PERIODS = {"month": TruncMonth, "year": TruncYear}
_FILLED = (OrderLine.Status.FULFILLED, OrderLine.Status.SHIPPED)
_UNFILLED = (OrderLine.Status.VOIDED, OrderLine.Status.SPECIAL_ORDER)
_MONEY_FIELD = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class FillRateRow:
    """One period (or one warehouse) of the fill rate.

    `released`: lines of released orders decided in the period (cancelled lines never count);
    `filled`: at a warehouse or shipped, second-sourced ones included; `voided`: nobody could fill
    them (special orders included); `extra_cost`: what FBS paid over the first choice's cost.
    """

    period: date | None
    label: str
    released: int
    filled: int
    voided: int
    second_sourced: int
    extra_cost: Decimal
    warehouse_id: int | None = None
    warehouse_code: str = ""

    def __post_init__(self):
        # SQLite sums decimals as floats: money leaves here as cents, whatever the database.
        object.__setattr__(self, "extra_cost", Decimal(self.extra_cost).quantize(Decimal("0.01")))

    @property
    def fill_rate(self) -> Decimal | None:
        return _percent(self.filled, self.released)

    @property
    def void_rate(self) -> Decimal | None:
        return _percent(self.voided, self.released)

    @property
    def second_source_rate(self) -> Decimal | None:
        """Second-sourced lines as a share of released lines."""
        return _percent(self.second_sourced, self.released)

    @property
    def first_choice_filled(self) -> int:
        return self.filled - self.second_sourced

    @property
    def first_choice_rate(self) -> Decimal | None:
        return _percent(self.first_choice_filled, self.released)


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _released_lines(*, affiliate=None, warehouse=None) -> QuerySet[OrderLine]:
    """Lines of released orders that have been decided. A line still being routed has no
    decided_at yet and is counted in the period it is decided in."""
    lines = OrderLine.objects.filter(
        order__released_at__isnull=False, decided_at__isnull=False
    ).exclude(status=OrderLine.Status.CANCELLED)
    if affiliate is not None:
        lines = lines.filter(order__affiliate=affiliate)
    if warehouse is not None:
        lines = lines.annotate(first_choice=_first_choice_warehouse()).filter(
            first_choice=getattr(warehouse, "pk", warehouse)
        )
    return lines


def _first_choice_warehouse() -> Subquery:
    # A line's own warehouse is where it was finally filled, and a voided line has none: counted
    # by it, every warehouse would fill 100%. A warehouse answers for the lines FBS sent it first,
    # in the line's latest cycle (a restocked special order is sourced again from the start).
    return Subquery(
        SourcingAttempt.objects.filter(line=OuterRef("pk"))
        .order_by("-cycle", "pk")
        .values("warehouse")[:1]
    )


def _fill_rate_aggregates() -> dict:
    return {
        "released": Count("id"),
        "filled": Count("id", filter=Q(status__in=_FILLED)),
        "voided": Count("id", filter=Q(status__in=_UNFILLED)),
        "second_sourced": Count("id", filter=Q(status__in=_FILLED, second_sourced=True)),
        "extra_cost": Coalesce(
            Sum("extra_cost"), Value(Decimal("0.00")), output_field=_MONEY_FIELD
        ),
    }


def fill_rate(*, affiliate=None, warehouse=None, group_by: str = "month") -> list[FillRateRow]:
    """The fill rate per month or per year (oldest first), of one affiliate's lines or of all,
    of the lines first sent to one warehouse or to any. One aggregate query; the period is the
    month/year the line was decided in, in the site's time zone."""
    if group_by not in FILL_RATE_PERIODS:
        raise ValueError(f"group_by must be one of {sorted(FILL_RATE_PERIODS)}, not {group_by!r}")
    trunc = FILL_RATE_PERIODS[group_by]
    rows = (
        _released_lines(affiliate=affiliate, warehouse=warehouse)
        .annotate(period=trunc("decided_at", tzinfo=timezone.get_current_timezone()))
        .values("period")
        .annotate(**_fill_rate_aggregates())
        .order_by("period")
    )
    label_format = "%Y-%m" if group_by == "month" else "%Y"
    result = []
    for row in rows:
        period = row.pop("period")
        period = period.date() if isinstance(period, datetime) else period
        result.append(FillRateRow(period=period, label=period.strftime(label_format), **row))
    return result


def fill_rate_by_warehouse(*, affiliate=None, since: datetime | None = None) -> list[FillRateRow]:
    """One row per warehouse the lines were first sent to (most lines first); lines that no
    warehouse stocked at release have no first choice and make the row without a warehouse."""
    from inventory.models import Warehouse

    lines = _released_lines(affiliate=affiliate).annotate(first_choice=_first_choice_warehouse())
    if since is not None:
        lines = lines.filter(decided_at__gte=since)
    rows = list(
        lines.values("first_choice")
        .annotate(**_fill_rate_aggregates())
        .order_by("-released", "first_choice")
    )
    codes = dict(
        Warehouse.objects.filter(pk__in=[r["first_choice"] for r in rows]).values_list("pk", "code")
    )
    result = []
    for row in rows:
        warehouse_id = row.pop("first_choice")
        code = codes.get(warehouse_id, "")
        result.append(
            FillRateRow(
                period=None,
                label=code or "No warehouse had stock",
                warehouse_id=warehouse_id,
                warehouse_code=code,
                **row,
            )
        )
    return result


def fill_rate_this_year(*, affiliate) -> FillRateRow | None:
    """This calendar year's row of the affiliate's fill rate, or None before any line."""
    year = timezone.localdate().year
    for row in fill_rate(affiliate=affiliate, group_by="year"):
        if row.period.year == year:
            return row
    return None

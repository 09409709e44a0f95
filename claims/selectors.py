"""Reads of claims that pages, the API and admin share. Every affiliate read is scoped to the
affiliate: another affiliate's claim does not exist (Claim.DoesNotExist, a 404)."""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    Avg,
    Count,
    DecimalField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from claims import eligibility
from claims.models import CENT, Claim
from orders.models import OrderLine

_OUR_NUMBER = re.compile(r"^\s*(?:CLM-?)?0*(\d{1,12})\s*$", re.IGNORECASE)


def claim_number_pk(text: str) -> int | None:
    """The claim id in "CLM-0000042", "clm42" or "42"."""
    match = _OUR_NUMBER.match(text or "")
    return int(match.group(1)) if match else None


def claims_for_affiliate(*, affiliate, status: str = "") -> QuerySet[Claim]:
    claims = Claim.objects.filter(affiliate=affiliate).select_related("order", "line")
    if status:
        claims = claims.filter(status=status)
    return claims.order_by("-created_at", "-id")


def claim_for_affiliate(*, affiliate, claim_id) -> Claim:
    return (
        Claim.objects.filter(affiliate=affiliate)
        .select_related("order", "line", "decided_by")
        .prefetch_related("messages__author")
        .get(pk=claim_id)
    )


def claimable_lines_for_affiliate(*, affiliate) -> QuerySet[OrderLine]:
    """Lines FBS voided for this affiliate that have no claim in review, approved or paid: the
    ones a claim can be filed for now, most recently voided first."""
    live = Claim.objects.filter(line=OuterRef("pk"), status__in=Claim.LIVE)
    return (
        OrderLine.objects.filter(
            order__affiliate=affiliate,
            status__in=eligibility.CLAIMABLE_LINE_STATUSES,
            voided_at__isnull=False,
            compensation=OrderLine.Compensation.NONE,
        )
        .exclude(Exists(live))
        .select_related("order")
        .order_by("-voided_at", "-id")
    )


def claimable_line_for_affiliate(*, affiliate, line_id) -> OrderLine:
    return claimable_lines_for_affiliate(affiliate=affiliate).get(pk=line_id)


# --- Review deadlines -------------------------------------------------------------------------


def claims_overdue(*, now=None) -> QuerySet[Claim]:
    now = now or timezone.now()
    return Claim.objects.filter(status__in=Claim.UNDECIDED, due_at__lt=now).order_by("due_at", "id")


def claims_compensated_twice() -> QuerySet[Claim]:
    """Live claims whose line a special order also makes good: pairs from before a line could be
    compensated only once (migration 0003 left the special order as the line's compensation).
    The services refuse to approve or pay them; Support denies the claim or has the special
    order withdrawn."""
    return Claim.objects.filter(status__in=Claim.LIVE).exclude(
        line__compensation=OrderLine.Compensation.CLAIM
    )


def claims_due_within(*, now=None, days: int) -> QuerySet[Claim]:
    """Undecided claims not yet overdue whose deadline falls within `days` from now."""
    now = now or timezone.now()
    return Claim.objects.filter(
        status__in=Claim.UNDECIDED, due_at__gte=now, due_at__lt=now + timedelta(days=days)
    ).order_by("due_at", "id")


# --- Finance: the monthly summary --------------------------------------------------------------

_MONEY = DecimalField(max_digits=16, decimal_places=2)
_DECIDED = (Claim.Status.APPROVED, Claim.Status.DENIED, Claim.Status.PAID)
_APPROVED = (Claim.Status.APPROVED, Claim.Status.PAID)


def _money(value) -> Decimal:
    # SQLite sums decimals as floats: money leaves here as cents, whatever the database.
    return Decimal(str(value or 0)).quantize(CENT)


@dataclass(frozen=True)
class MonthRow:
    """One month of claims, by the month they were filed.

    `decided_on_time_share`: of the claims whose outcome against the deadline is known (decided,
    or undecided and past due), the share decided by their due date.
    """

    month: date
    filed: int
    claimed: Decimal
    approved: Decimal
    paid: Decimal
    decided: int
    avg_days_to_decision: Decimal | None
    decided_on_time: int
    deadline_known: int
    auto_approved: int

    @property
    def decided_on_time_share(self) -> Decimal | None:
        return _percent(self.decided_on_time, self.deadline_known)

    @property
    def auto_approval_share(self) -> Decimal | None:
        return _percent(self.auto_approved, self.filed)


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def claims_monthly_summary(*, claims: QuerySet[Claim] | None = None, now=None) -> list[MonthRow]:
    """Per month filed, newest first: claims filed, amounts claimed, approved and paid, average
    days from filing to decision, share decided within the review period, auto-approval share."""
    now = now or timezone.now()
    claims = Claim.objects.all() if claims is None else claims
    zero = Value(Decimal("0.00"), output_field=_MONEY)
    rows = (
        claims.order_by()
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(
            filed=Count("id"),
            claimed=Coalesce(Sum("amount"), zero),
            approved=Coalesce(Sum("approved_amount", filter=Q(status__in=_APPROVED)), zero),
            paid=Coalesce(Sum("approved_amount", filter=Q(status=Claim.Status.PAID)), zero),
            decided=Count("id", filter=Q(decided_at__isnull=False)),
            avg_decision=Avg(
                ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField()),
                filter=Q(decided_at__isnull=False),
            ),
            decided_on_time=Count("id", filter=Q(decided_at__lte=F("due_at"))),
            deadline_known=Count("id", filter=Q(decided_at__isnull=False) | Q(due_at__lt=now)),
            auto=Count("id", filter=Q(auto_approved=True)),
        )
        .order_by("-month")
    )
    result = []
    for row in rows:
        average = row["avg_decision"]
        if average is not None and not isinstance(average, timedelta):
            # Some backends answer the average as microseconds.
            average = timedelta(microseconds=float(average))
        days = None
        if average is not None:
            days = (Decimal(average.total_seconds()) / 86400).quantize(Decimal("0.1"))
        month = row["month"]
        result.append(
            MonthRow(
                month=month.date() if hasattr(month, "date") else month,
                filed=row["filed"],
                claimed=_money(row["claimed"]),
                approved=_money(row["approved"]),
                paid=_money(row["paid"]),
                decided=row["decided"],
                avg_days_to_decision=days,
                decided_on_time=row["decided_on_time"],
                deadline_known=row["deadline_known"],
                auto_approved=row["auto"],
            )
        )
    return result


# --- Payouts ----------------------------------------------------------------------------------


def payout_fingerprint(claims) -> str:
    """What a payout confirmation was shown, in 16 hex digits: every selected claim's id, status
    and approved amount. A claim approved, paid or changed since gives another fingerprint, so
    the payout is refused and shown again rather than paying what nobody saw."""
    import hashlib

    parts = sorted(f"{c.pk}:{c.status}:{c.approved_amount}" for c in claims)
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PayoutAffiliate:
    affiliate: object
    count: int
    total: Decimal


@dataclass(frozen=True)
class PayoutPreview:
    """Exactly what marking these claims paid would pay: the approved ones, at their approved
    amounts, per affiliate; the others are listed as not paid."""

    to_pay: list
    not_paid: list
    by_affiliate: list
    total: Decimal
    fingerprint: str

    @property
    def count(self) -> int:
        return len(self.to_pay)


def payout_preview_of(claims) -> PayoutPreview:
    claims = sorted(claims, key=lambda c: c.pk)
    to_pay = [c for c in claims if c.status == Claim.Status.APPROVED]
    groups: dict[int, list] = {}
    for claim in to_pay:
        groups.setdefault(claim.affiliate_id, []).append(claim)
    by_affiliate = sorted(
        (
            PayoutAffiliate(
                affiliate=group[0].affiliate,
                count=len(group),
                total=sum((c.approved_amount for c in group), Decimal("0.00")),
            )
            for group in groups.values()
        ),
        key=lambda row: str(row.affiliate),
    )
    return PayoutPreview(
        to_pay=to_pay,
        not_paid=[c for c in claims if c.status != Claim.Status.APPROVED],
        by_affiliate=by_affiliate,
        total=sum((c.approved_amount for c in to_pay), Decimal("0.00")),
        fingerprint=payout_fingerprint(claims),
    )


def payout_preview(*, claim_ids) -> PayoutPreview:
    return payout_preview_of(
        Claim.objects.filter(pk__in=list(claim_ids)).select_related("affiliate", "order", "line")
    )

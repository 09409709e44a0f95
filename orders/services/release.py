"""Leaving the queue: the release sweep, the stalled-run sweep, and Support's hand on both."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from orders import emails, events
from orders.locks import (
    lock_orders,
)
from orders.models import Order
from orders.services._common import (
    Status,
    _enqueue_fulfillment,
)

# Orders released per sweep transaction; the sweep loops until none are due.
RELEASE_BATCH = 500


def order_release_due(*, now=None, limit: int = RELEASE_BATCH) -> list[int]:
    """Release orders whose cancel window has closed; queue their fulfillment after commit."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            lock_orders(
                Order.objects.filter(status=Status.QUEUED, release_at__lte=now),
                skip_locked=True,
            )
            .order_by("release_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not due:
            return []
        Order.objects.filter(pk__in=due, status=Status.QUEUED).update(
            status=Status.PROCESSING,
            released_at=now,
            processing_started_at=now,
            fulfillment_runs=F("fulfillment_runs") + 1,
        )
        events.released(due)
        _enqueue_fulfillment(due)
    return due


def order_redispatch_stalled(*, now=None) -> list[int]:
    """Hand out again orders whose fulfillment run died (a killed worker's task is not
    redelivered by Redis for an hour); flag those that keep failing to Support."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.FBS_PROCESSING_TIMEOUT_SECONDS)
    redispatched = []
    with transaction.atomic():
        stalled = list(
            lock_orders(
                Order.objects.filter(status=Status.PROCESSING, processing_started_at__lt=cutoff),
                skip_locked=True,
            ).order_by("processing_started_at")[:RELEASE_BATCH]
        )
        for order in stalled:
            runs = order.fulfillment_runs + 1
            Order.objects.filter(pk=order.pk).update(
                processing_started_at=now, fulfillment_runs=runs
            )
            events.redispatched(order, runs=runs)
            if runs > settings.FBS_MAX_FULFILLMENT_RUNS and not order.needs_attention:
                Order.objects.filter(pk=order.pk).update(needs_attention=True)
                events.flagged(order, reason=f"fulfillment did not finish after {runs - 1} runs")
                emails.support_order_stuck(order, runs=runs - 1)
            redispatched.append(order.pk)
        _enqueue_fulfillment(redispatched)
    return redispatched


def order_fulfillment_restart(*, order_ids, user) -> list[Order]:
    """Support hands processing orders to fulfillment again now, without waiting for the
    stalled-run sweep; the run is queued after commit, as the sweep would."""
    restarted = []
    with transaction.atomic():
        orders = list(
            lock_orders(Order.objects.filter(pk__in=order_ids, status=Status.PROCESSING)).order_by(
                "pk"
            )
        )
        for order in orders:
            runs = order.fulfillment_runs + 1
            Order.objects.filter(pk=order.pk).update(
                processing_started_at=timezone.now(), fulfillment_runs=runs
            )
            events.redispatched(order, runs=runs, user=user)
            restarted.append(order)
        _enqueue_fulfillment([order.pk for order in restarted])
    return restarted


def order_clear_needs_attention(*, order_ids, user) -> list[Order]:
    """Support has dealt with what flagged these orders."""
    cleared = []
    with transaction.atomic():
        orders = list(
            lock_orders(Order.objects.filter(pk__in=order_ids, needs_attention=True)).order_by("pk")
        )
        for order in orders:
            Order.objects.filter(pk=order.pk).update(needs_attention=False)
            events.attention_cleared(order, user=user)
            cleared.append(order)
    return cleared

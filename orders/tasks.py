"""Thin Celery entry points: ids in, one service call, safe to run twice."""

from celery import shared_task
from django.db import OperationalError

from orders import services


@shared_task(ignore_result=True)
def order_release_sweep_task() -> None:
    """Beat, every FBS_RELEASE_SWEEP_SECONDS: release due orders, restart stalled ones."""
    while services.order_release_due():
        pass
    services.order_redispatch_stalled()


# A dropped connection or a deadlock victim is worth a few more tries; anything else waits for the
# stalled-run sweep (FBS_PROCESSING_TIMEOUT_SECONDS) and then Support.
@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    max_retries=3,
    retry_backoff=True,
)
def order_fulfill_batch_task(order_ids: list[int]) -> None:
    services.order_fulfill_batch(order_ids=order_ids)


@shared_task(ignore_result=True)
def special_orders_restock_task() -> None:
    services.special_orders_restock()


@shared_task(ignore_result=True)
def shipments_poll_task() -> None:
    services.shipments_poll()

"""Thin Celery entry points: ids in, one service call, safe to run twice."""

from celery import shared_task

from orders import services


@shared_task(ignore_result=True)
def order_release_sweep_task() -> None:
    """Beat, every FBS_RELEASE_SWEEP_SECONDS: release due orders, restart stalled ones."""
    while services.order_release_due():
        pass
    services.order_redispatch_stalled()


@shared_task(ignore_result=True, acks_late=True)
def order_fulfill_task(order_id: int) -> None:
    services.order_fulfill(order_id=order_id)


@shared_task(ignore_result=True)
def special_orders_restock_task() -> None:
    services.special_orders_restock()


@shared_task(ignore_result=True)
def shipments_poll_task() -> None:
    services.shipments_poll()

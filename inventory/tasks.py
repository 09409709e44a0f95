from celery import shared_task

from inventory.services import feed_import_run_pending, warehouse_stock_sweep


@shared_task(ignore_result=True)
def feed_import_task(feed_import_id: int) -> None:
    """Run an uploaded feed. Safe to run twice: a finished import is not run again."""
    feed_import_run_pending(feed_import_id=feed_import_id)


@shared_task(ignore_result=True)
def warehouse_stock_sweep_task() -> None:
    warehouse_stock_sweep()

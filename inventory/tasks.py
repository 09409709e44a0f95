from celery import shared_task
from django.db import transaction

from inventory.models import FeedImport
from inventory.services import feed_import_run, warehouse_stock_sweep


@shared_task(ignore_result=True)
def feed_import_task(feed_import_id: int) -> None:
    """Run an uploaded feed. Safe to run twice: a finished import is not run again."""
    with transaction.atomic():
        feed_import = (
            FeedImport.objects.select_for_update(skip_locked=True)
            .filter(pk=feed_import_id, status=FeedImport.Status.PENDING)
            .first()
        )
        if feed_import is None:
            return
        feed_import.status = FeedImport.Status.RUNNING
        feed_import.save(update_fields=["status"])
    with feed_import.file.open("rb") as fileobj:
        # An upload names a warehouse that existed when it was sent; never create one here.
        feed_import_run(feed_import=feed_import, fileobj=fileobj, create_warehouses=False)


@shared_task(ignore_result=True)
def warehouse_stock_sweep_task() -> None:
    warehouse_stock_sweep()

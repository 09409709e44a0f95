import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sophio_fbs.settings")

app = Celery("sophio_fbs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(task=None, **kwargs) -> None:
    """Around each task, what Django does around each request: close the database connections
    that are broken or older than CONN_MAX_AGE, keep the others (CELERY_DB_REUSE_MAX stops
    Celery from closing them all). A task run eagerly is inside its caller's transaction: its
    connection is left alone, as Celery's own fixup leaves it."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()

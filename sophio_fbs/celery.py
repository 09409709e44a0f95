import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sophio_fbs.settings")

app = Celery("sophio_fbs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

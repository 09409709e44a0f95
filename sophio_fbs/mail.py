"""Email to affiliates and staff, sent by a worker after the change it tells of has committed.

A request never waits on the mail server: each email is a Celery task queued on commit (a
rolled-back change sends nothing). When the broker cannot take the task, the email is sent from
here instead, so none is lost to a broker outage."""

import logging
from collections.abc import Iterable

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

logger = logging.getLogger(__name__)

# A mail server that refuses or drops the connection (smtplib's errors are OSErrors) is tried
# again a few times, waiting longer each time; a task run twice sends twice, which is the lesser
# harm.
MAIL_RETRIES = 5


@shared_task(
    ignore_result=True, autoretry_for=(OSError,), max_retries=MAIL_RETRIES, retry_backoff=True
)
def send_email_task(subject: str, body: str, to: list[str]) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)


def send_after_commit(subject: str, body: str, to: Iterable[str]) -> None:
    to = list(to)

    def send():
        try:
            send_email_task.delay(subject, body, to)
        except Exception:
            logger.warning("Could not queue email %r to %s; sending it now", subject, to)
            try:
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)
            except Exception:
                logger.exception("Could not send email %r to %s", subject, to)

    transaction.on_commit(send)

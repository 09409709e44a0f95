"""Emails leave through a worker after commit; a broker outage sends them at once instead."""

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError

from sophio_fbs import mail

pytestmark = pytest.mark.django_db


def test_send_after_commit_queues_a_task_once_the_change_commits(
    celery_sent, mailoutbox, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(mail.send_email_task, "delay", lambda *args: queued.append(args))

    with django_capture_on_commit_callbacks(execute=True):
        mail.send_after_commit("Subject", "Body", ["a@example.com"])
        # nothing leaves before the commit
        assert queued == []

    assert queued == [("Subject", "Body", ["a@example.com"])]
    assert mailoutbox == []  # the worker sends it, not the request


def test_send_after_commit_sends_nothing_for_a_rolled_back_change(
    mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                mail.send_after_commit("Subject", "Body", ["a@example.com"])
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    assert callbacks == []
    assert mailoutbox == []


def test_send_after_commit_with_the_broker_down_sends_the_email_itself(
    mailoutbox, django_capture_on_commit_callbacks, monkeypatch
):
    def refuse(*args):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(mail.send_email_task, "delay", refuse)

    with django_capture_on_commit_callbacks(execute=True):
        mail.send_after_commit("Subject", "Body", ["a@example.com"])

    assert [(m.subject, m.to) for m in mailoutbox] == [("Subject", ["a@example.com"])]


def test_send_email_task_sends_through_the_configured_backend(mailoutbox):
    mail.send_email_task.run("Subject", "Body", ["a@example.com"])

    assert [(m.subject, m.body, m.to) for m in mailoutbox] == [
        ("Subject", "Body", ["a@example.com"])
    ]

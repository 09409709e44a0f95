"""Thin Celery entry points: one service call, safe to run twice."""

from celery import shared_task

from claims import services


@shared_task(ignore_result=True)
def claims_review_digest_task() -> None:
    """Beat, daily: email Support the claims overdue and those due within 5 days."""
    services.claims_review_digest()

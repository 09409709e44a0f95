"""Row locks only mean something on PostgreSQL: these run there, with real threads."""

import threading

import pytest
from django.db import connection

from affiliates import services
from tests.factories import AffiliateFactory, CardFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(*calls):
    barrier = threading.Barrier(len(calls))
    errors = []

    def run(call):
        try:
            barrier.wait()
            call()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_payment_method_concurrent_default_changes_leave_exactly_one_default():
    affiliate = AffiliateFactory()
    cards = [CardFactory(affiliate=affiliate, is_default=(i == 0)) for i in range(6)]

    for _ in range(5):
        errors = run_at_once(
            *[
                (
                    lambda c=card: services.payment_method_set_default(
                        affiliate=affiliate, payment_method_id=c.pk
                    )
                )
                for card in cards
            ]
        )
        assert errors == []
        assert affiliate.payment_methods.filter(is_default=True).count() == 1


def test_payment_method_concurrent_first_cards_make_one_default():
    affiliate = AffiliateFactory()

    errors = run_at_once(
        *[
            (
                lambda n=n: services.payment_method_add_paypal(
                    affiliate=affiliate, email=f"p{n}@x.test"
                )
            )
            for n in range(6)
        ]
    )

    assert errors == []
    assert affiliate.payment_methods.count() == 6
    assert affiliate.payment_methods.filter(is_default=True).count() == 1

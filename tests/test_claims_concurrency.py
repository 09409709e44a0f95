"""Two reviewers acting on one claim at the same moment, and two filings for one line: exactly one
wins, the other is told, and money moves once. Row locks only mean something on PostgreSQL."""

import threading

import pytest
from django.db import connection

from claims import services
from claims.errors import ClaimExistsError, ClaimStatusError
from claims.models import Claim
from payments.models import LedgerEntry
from tests.factories import StaffFactory
from tests.test_claims_helpers import file_claim, use_private_storage, voided_line

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 5


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


def race(*calls) -> list:
    """Run the calls in threads released together; each result is "won" or the refusal."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            call()
            results[index] = "won"
        except (ClaimStatusError, ClaimExistsError) as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_reviewers_approve_and_deny_at_once_exactly_one_decides(round_):
    user, _, line = voided_line(min_stock=2, number=f"M-{round_}")
    claim = file_claim(user, line, amount="60.00")
    alice, bob = StaffFactory(username="alice"), StaffFactory(username="bob")

    results = race(
        lambda: services.claim_approve(claim_id=claim.pk, user=alice),
        lambda: services.claim_deny(claim_id=claim.pk, user=bob, reason="Not ours."),
    )

    assert results.count("won") == 1
    (loser,) = [r for r in results if r != "won"]
    assert isinstance(loser, ClaimStatusError)
    claim.refresh_from_db()
    winner = alice if claim.status == Claim.Status.APPROVED else bob
    assert claim.decided_by == winner
    assert f"already {claim.get_status_display().lower()} by {winner.username}" in loser.message
    credits = LedgerEntry.objects.filter(kind="credit").count()
    assert credits == (1 if claim.status == Claim.Status.APPROVED else 0)


def test_two_reviewers_approve_at_once_one_credit():
    user, _, line = voided_line(min_stock=2)
    claim = file_claim(user, line, amount="60.00")
    alice, bob = StaffFactory(username="alice"), StaffFactory(username="bob")

    results = race(
        lambda: services.claim_approve(claim_id=claim.pk, user=alice),
        lambda: services.claim_approve(claim_id=claim.pk, user=bob, amount="50.00", note="less"),
    )

    assert results.count("won") == 1
    assert LedgerEntry.objects.filter(kind="credit").count() == 1
    claim.refresh_from_db()
    assert claim.credit.amount == claim.approved_amount


def test_two_filings_for_one_line_at_once_make_one_claim(private_storage):
    user, _, line = voided_line()

    results = race(lambda: file_claim(user, line), lambda: file_claim(user, line))

    assert results.count("won") == 1
    assert Claim.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="credit").count() == 1
    # The loser's receipt was not kept.
    assert len([p for p in private_storage.rglob("*") if p.is_file()]) == 1

"""A voided line is compensated once: by a special order (its refund reversed, the part shipped)
or by a claim (the part bought elsewhere), never both. The services refuse the second with a
message every face shows; the line's one `compensation` column, set by compare-and-set and tied
to the special-order status by a check constraint, makes the database hold it under races."""

import threading
import time

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from claims import services as claim_services
from claims.errors import ClaimExistsError
from claims.models import Claim
from orders import services as order_services
from orders.errors import LineCompensatedError
from orders.models import Order, OrderLine
from payments.models import LedgerEntry
from tests.factories import StaffFactory, make_api_key
from tests.test_claims_helpers import file_claim, use_private_storage, voided_line

Compensation = OrderLine.Compensation


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


def special_order(user, line):
    return order_services.order_special_order_request(
        order=Order.objects.get(pk=line.order_id), line_id=line.pk, user=user
    )


def compensation_of(line) -> str:
    return OrderLine.objects.values_list("compensation", flat=True).get(pk=line.pk)


# --- The rule, one request after another -----------------------------------------------------


@pytest.mark.django_db
def test_special_order_of_a_claimed_line_is_refused_and_changes_nothing():
    user, order, line = voided_line()
    claim = file_claim(user, line)

    with pytest.raises(LineCompensatedError, match=f"already compensated by claim {claim.number}"):
        special_order(user, line)

    line.refresh_from_db()
    order.refresh_from_db()
    assert (line.status, line.compensation) == ("voided", "claim")
    assert order.status == Order.Status.VOIDED
    assert not order.events.filter(kind="special_order").exists()


@pytest.mark.django_db
def test_claim_of_a_special_order_line_is_refused_and_keeps_nothing(private_storage):
    user, _, line = voided_line()
    special_order(user, line)

    with pytest.raises(LineCompensatedError, match="withdraw the special order first"):
        file_claim(user, line)

    assert not Claim.objects.exists()
    assert compensation_of(line) == Compensation.SPECIAL_ORDER
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CREDIT).exists()


@pytest.mark.django_db
def test_a_denied_claim_frees_the_line_for_a_special_order():
    user, _, line = voided_line(min_stock=2)  # min stock 2: the claim goes to review
    claim = file_claim(user, line)
    claim_services.claim_deny(claim_id=claim.pk, user=StaffFactory(), reason="Wrong part.")
    assert compensation_of(line) == Compensation.NONE

    special_order(user, line)

    assert compensation_of(line) == Compensation.SPECIAL_ORDER


@pytest.mark.django_db
def test_a_withdrawn_special_order_frees_the_line_for_a_claim():
    user, order, line = voided_line()
    special_order(user, line)
    order_services.order_special_order_withdraw(order=order, line_id=line.pk, user=user)
    assert compensation_of(line) == Compensation.NONE

    claim = file_claim(user, line)

    assert claim.status == Claim.Status.APPROVED
    assert compensation_of(line) == Compensation.CLAIM


@pytest.mark.django_db
def test_a_second_special_order_and_a_second_claim_are_refused():
    user, _, line = voided_line()
    special_order(user, line)
    with pytest.raises(LineCompensatedError, match="already a special order"):
        special_order(user, line)

    other_user, _, other_line = voided_line(number="M-2")
    file_claim(other_user, other_line)
    with pytest.raises(ClaimExistsError):
        file_claim(other_user, other_line)


@pytest.mark.django_db
def test_the_database_refuses_a_special_order_status_without_its_compensation():
    # given: a claimed line; when: a writer forgets the rule and sets the status directly
    user, _, line = voided_line()
    file_claim(user, line)

    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.filter(pk=line.pk).update(status=OrderLine.Status.SPECIAL_ORDER)


@pytest.mark.django_db
def test_line_compensation_take_is_a_compare_and_set():
    _, _, line = voided_line()
    order_services.line_compensation_take(line=line, kind=Compensation.CLAIM)
    stale = OrderLine.objects.get(pk=line.pk)
    stale.compensation = Compensation.NONE  # as read before the first writer committed

    with pytest.raises(LineCompensatedError):
        order_services.line_compensation_take(line=stale, kind=Compensation.SPECIAL_ORDER)
    assert compensation_of(line) == Compensation.CLAIM


# --- Races on PostgreSQL: two requests at the same moment, and each order of arrival ----------


def _blocked_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
        return cursor.fetchone() is not None


def _wait_until(condition, what: str) -> None:
    """Poll a condition of the database (not a clock: the deadline only stops a hung test)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.01)


def arrive_in_order(first, second) -> dict:
    """Run `first` in a transaction held open, start `second` and wait until PostgreSQL shows it
    waiting for a lock `first` holds, then commit `first`. Each result is "won" or the error."""
    results, first_done, release, pid = {}, threading.Event(), threading.Event(), {}

    def run_first():
        try:
            with transaction.atomic():
                first()
                results["first"] = "won"
                first_done.set()
                release.wait(30)
        except Exception as exc:
            results["first"] = exc
            first_done.set()
        finally:
            connection.close()

    def run_second():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid["second"] = cursor.fetchone()[0]
            second()
            results["second"] = "won"
        except Exception as exc:
            results["second"] = exc
        finally:
            connection.close()

    one = threading.Thread(target=run_first)
    one.start()
    first_done.wait(30)
    two = threading.Thread(target=run_second)
    two.start()
    if results.get("first") == "won":
        _wait_until(lambda: "second" in pid, "the second request's connection")
        _wait_until(
            lambda: _blocked_on_a_lock(pid["second"]) or "second" in results,
            "the second request waits for the first's lock",
        )
    release.set()
    one.join(30)
    two.join(30)
    return results


def race(*calls) -> list:
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            call()
            results[index] = "won"
        except LineCompensatedError as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def assert_compensated_once(line, *, by: str) -> None:
    line.refresh_from_db()
    claims = Claim.objects.filter(line=line, status__in=Claim.LIVE).count()
    credits = LedgerEntry.objects.filter(order_id=line.order_id, kind=LedgerEntry.Kind.CREDIT)
    assert line.compensation == by
    if by == Compensation.CLAIM:
        assert (line.status, claims, credits.count()) == ("voided", 1, 1)
    else:
        assert (line.status, claims, credits.count()) == ("special_order", 0, 0)


@pytest.mark.parametrize(
    "first", [Compensation.CLAIM, Compensation.SPECIAL_ORDER], ids=["claim-first", "so-first"]
)
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_claim_and_special_order_in_each_order_of_arrival_the_second_is_refused(first):
    user, _, line = voided_line()
    claim = lambda: file_claim(user, line)  # noqa: E731
    so = lambda: special_order(user, line)  # noqa: E731
    calls = (claim, so) if first == Compensation.CLAIM else (so, claim)

    results = arrive_in_order(*calls)

    assert results["first"] == "won"
    assert isinstance(results["second"], LineCompensatedError), results["second"]
    expected = "already compensated by claim" if first == Compensation.CLAIM else "withdraw"
    assert expected in results["second"].message
    assert_compensated_once(line, by=first)


@pytest.mark.parametrize("round_", range(8))
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_claim_and_special_order_at_the_same_moment_exactly_one_wins(round_):
    user, _, line = voided_line(number=f"M-{round_}")
    calls = [lambda: file_claim(user, line), lambda: special_order(user, line)]
    if round_ % 2:
        calls.reverse()

    results = race(*calls)

    assert results.count("won") == 1, results
    loser = next(r for r in results if r != "won")
    assert isinstance(loser, LineCompensatedError)
    winner = results.index("won")
    won_by_claim = (winner == 0) == (round_ % 2 == 0)
    assert_compensated_once(line, by=Compensation.CLAIM if won_by_claim else "special_order")


# --- Every face shows the refusal ---------------------------------------------------------------


@pytest.mark.django_db
def test_page_special_order_of_a_claimed_line_shows_why(client):
    user, order, line = voided_line()
    claim = file_claim(user, line)
    client.force_login(user)

    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    response = client.post(reverse("orders:special-order", args=[order.pk, line.pk]), follow=True)

    assert reverse("orders:special-order", args=[order.pk, line.pk]) not in page
    assert f'Compensated by <a href="{reverse("claims:detail", args=[claim.pk])}">' in page
    assert f"already compensated by claim {claim.number}" in response.content.decode()
    assert compensation_of(line) == Compensation.CLAIM


@pytest.mark.django_db
def test_page_claim_of_a_special_order_line_shows_why(client):
    user, order, line = voided_line()
    special_order(user, line)
    client.force_login(user)

    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    response = client.get(reverse("claims:new") + f"?line={line.pk}")

    assert reverse("claims:new") + f"?line={line.pk}" not in page
    assert response.status_code == 409
    assert "withdraw the special order first" in response.content.decode()


@pytest.mark.django_db
def test_api_special_order_of_a_claimed_line_is_a_409_with_the_message(api_client):
    user, order, line = voided_line()
    claim = file_claim(user, line)
    _, raw = make_api_key(user, raw=f"fbs_test-key-{user.pk:04d}-0123456789")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = api_client.post(
        f"/api/v1/orders/{order.pk}/special-order", {"line": line.pk}, format="json"
    )
    shown = api_client.get(f"/api/v1/orders/{order.pk}").json()

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "line_compensated"
    assert f"already compensated by claim {claim.number}" in error["message"]
    assert shown["lines"][0]["compensation"] == "claim"


@pytest.mark.django_db
def test_api_claim_of_a_special_order_line_is_a_409_with_the_message(api_client):
    from tests.test_claims_helpers import upload

    user, order, line = voided_line()
    special_order(user, line)
    _, raw = make_api_key(user, raw=f"fbs_test-key-{user.pk:04d}-0123456789")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = api_client.post(
        "/api/v1/claims",
        {
            "order": order.pk,
            "line": line.pk,
            "supplier_name": "Main St Dealer",
            "purchased_on": line.voided_at.date().isoformat(),
            "amount": "40.00",
            "receipt": upload(),
        },
        format="multipart",
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "line_compensated"
    assert "withdraw the special order first" in error["message"]
    assert not Claim.objects.exists()


@pytest.mark.django_db
def test_admin_special_order_of_a_claimed_line_shows_why(client):
    user, _, line = voided_line()
    claim = file_claim(user, line)
    _, _, free_line = voided_line(number="M-2")
    client.force_login(StaffFactory(group="Support"))

    response = client.post(
        "/admin/orders/orderline/",
        {"action": "special_order", "_selected_action": [line.pk, free_line.pk]},
        follow=True,
    )

    text = response.content.decode()
    assert f"already compensated by claim {claim.number}" in text
    assert "Now special orders:" in text
    assert compensation_of(line) == Compensation.CLAIM
    assert compensation_of(free_line) == Compensation.SPECIAL_ORDER


@pytest.mark.django_db
def test_a_special_order_voided_again_after_its_reversal_frees_the_line():
    # given: a special order restocked (refund reversed, line open again), then voided again
    user, order, line = voided_line()
    special_order(user, line)
    assert order_services.special_orders_restock() == [line.pk]
    line.refresh_from_db()
    assert (line.status, line.compensation) == ("open", Compensation.SPECIAL_ORDER)
    order_services.order_line_void(line=line, order=Order.objects.get(pk=order.pk))

    # then: refunded again, nothing made it good: it may be claimed
    assert compensation_of(line) == Compensation.NONE
    assert file_claim(user, OrderLine.objects.get(pk=line.pk)).status == Claim.Status.APPROVED


# --- Legacy pairs: a special order and a live claim from before the rule --------------------


def legacy_pair(status=Claim.Status.IN_REVIEW, *, number="M-1"):
    """A line that is a special order and also has a live claim, filed before a line could be
    compensated only once; then migration 0003 run over it, which leaves the special order as
    the line's compensation. (user, line, claim)"""
    import importlib

    from django.apps import apps
    from django.utils import timezone

    user, _, line = voided_line(min_stock=2, number=number)
    special_order(user, line)
    now = timezone.now()
    claim = Claim.objects.create(
        affiliate=user.affiliate,
        order_id=line.order_id,
        line=line,
        supplier_name="Main St Dealer",
        purchased_on=timezone.localdate(),
        amount="40.00",
        approved_amount="40.00" if status == Claim.Status.APPROVED else None,
        status=status,
        created_at=now,
        due_at=now,
    )
    migration = importlib.import_module("orders.migrations.0003_line_compensation")
    migration.record_compensations(apps, connection.schema_editor())
    assert compensation_of(line) == Compensation.SPECIAL_ORDER
    return user, line, claim


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Claim.Status.IN_REVIEW, Claim.Status.NEEDS_INFO])
def test_claim_approve_of_a_legacy_pair_is_refused_and_books_nothing(status):
    _, line, claim = legacy_pair(status)

    with pytest.raises(LineCompensatedError, match=f"{claim.number} cannot be approved"):
        claim_services.claim_approve(claim_id=claim.pk, user=StaffFactory())

    claim.refresh_from_db()
    assert claim.status == status
    assert claim.credit_id is None
    assert not LedgerEntry.objects.filter(idempotency_key=f"claim:{claim.pk}:credit").exists()
    assert compensation_of(line) == Compensation.SPECIAL_ORDER


@pytest.mark.django_db
def test_claims_mark_paid_with_a_legacy_pair_pays_nothing():
    # given: an approved legacy pair, and a claim that may be paid, selected together
    _, _, doubled = legacy_pair(Claim.Status.APPROVED)
    user, _, line = voided_line(number="M-2")
    fine = file_claim(user, line)
    assert fine.status == Claim.Status.APPROVED

    with pytest.raises(LineCompensatedError, match=f"{doubled.number} cannot be paid"):
        claim_services.claims_mark_paid(claim_ids=[doubled.pk, fine.pk], user=StaffFactory())

    assert set(Claim.objects.values_list("status", flat=True)) == {Claim.Status.APPROVED}
    assert not Claim.objects.filter(payout_batch__isnull=False).exists()
    # the other claim alone is paid
    batch, skipped = claim_services.claims_mark_paid(claim_ids=[fine.pk], user=StaffFactory())
    assert (batch.claim_count, skipped) == (1, [])


@pytest.mark.django_db
def test_claim_approve_of_a_legacy_pair_after_the_special_order_is_withdrawn_takes_the_line():
    user, line, claim = legacy_pair()
    order_services.order_special_order_withdraw(
        order=Order.objects.get(pk=line.order_id), line_id=line.pk, user=user
    )
    assert compensation_of(line) == Compensation.NONE

    claim_services.claim_approve(claim_id=claim.pk, user=StaffFactory())

    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.APPROVED
    assert compensation_of(line) == Compensation.CLAIM
    with pytest.raises(LineCompensatedError):
        special_order(user, line)


@pytest.mark.django_db
def test_admin_shows_legacy_pairs_to_support_and_refuses_to_pay_them(client):
    from tests.test_claims_admin import messages_of, run_action

    # given: a legacy pair in review, an approved one, and a claim compensated once
    _, _, waiting = legacy_pair(number="M-1")
    _, _, approved = legacy_pair(Claim.Status.APPROVED, number="M-2")
    user, _, line = voided_line(number="M-3")
    fine = file_claim(user, line)
    client.force_login(StaffFactory(group="Support"))

    # the list filter finds exactly the pairs
    listed = client.get("/admin/claims/claim/?compensation=special_order_too")
    assert {c.pk for c in listed.context["cl"].result_list} == {waiting.pk, approved.pk}
    # a pair's page says why it cannot be approved; a claim compensated once says nothing
    page = client.get(f"/admin/claims/claim/{waiting.pk}/change/")
    assert any("special order too" in m for m in messages_of(page))
    page = client.get(f"/admin/claims/claim/{fine.pk}/change/")
    assert not any("special order too" in m for m in messages_of(page))

    # Finance's payout of a pair shows the refusal on the confirmation page, pays nothing
    client.force_login(StaffFactory(group="Finance"))
    shown = run_action(client, "mark_paid", approved, fine)
    done = run_action(
        client, "mark_paid", approved, fine, fingerprint=shown.context["preview"].fingerprint
    )
    assert f"{approved.number} cannot be paid" in done.context["problem"]
    assert not Claim.objects.filter(status=Claim.Status.PAID).exists()

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from affiliates.services import api_key_create
from inventory.models import Item
from orders import services
from orders.models import ApiIdempotencyKey, Order, OrderEvent
from payments.models import LedgerEntry, SandboxInstrument
from tests.factories import CardFactory, UserFactory, import_feed

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders"


@pytest.fixture
def stock():
    import_feed("WH1", [("ACD", "P1", 10, "5.00"), ("ACD", "P2", 10, "3.00")])


def _keyed_client(user) -> APIClient:
    api = APIClient()
    _, raw = api_key_create(user=user, name="tests")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


@pytest.fixture
def user():
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)
    return user


@pytest.fixture
def api(user):
    return _keyed_client(user)


def body(number="12-34567-89012", lines=None, **overrides):
    data = {
        "marketplace": "ebay",
        "marketplace_order_id": number,
        "ship_to": {
            "name": "Pat Buyer",
            "address1": "1 Main St",
            "address2": "",
            "city": "Dallas",
            "state": "TX",
            "postal_code": "75201",
            "country": "US",
        },
        "lines": lines
        if lines is not None
        else [{"line_code": "ACD", "part_number": "P1", "qty": 2}],
    }
    return data | overrides


def place(api, data=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post(URL, data or body(), format="json", **headers)


def committed(part="P1") -> int:
    return Item.objects.get(part_number=part).committed_qty


def charges(order_id) -> int:
    return LedgerEntry.objects.filter(order_id=order_id, kind=LedgerEntry.Kind.CHARGE).count()


# --- Placing ------------------------------------------------------------------------------------


def test_api_order_create_charges_and_queues(api, stock):
    response = place(api)

    assert response.status_code == 201
    data = response.json()
    order = Order.objects.get()
    assert data["id"] == order.pk
    assert data["number"] == order.number
    assert data["status"] == "queued"
    assert data["paid_at"] is not None
    assert data["release_at"] is not None
    assert data["can_cancel"] is True
    assert data["total"] == str(order.total)
    assert data["money"] == {
        "charged": str(order.total),
        "refunded": "0.00",
        "net": str(order.total),
    }
    [line] = data["lines"]
    assert {k: line[k] for k in ("line_code", "part_number", "qty", "status", "warehouse")} == {
        "line_code": "ACD",
        "part_number": "P1",
        "qty": 2,
        "status": "open",
        "warehouse": None,
    }
    assert line["line_total"] == str(order.total)
    assert set(line) >= {"id", "unit_price", "tracking_number"}
    assert charges(order.pk) == 1
    assert committed() == 2


def test_api_order_create_without_valid_card_waits_for_payment(stock):
    api = _keyed_client(UserFactory())

    response = place(api)

    assert response.status_code == 201
    assert response.json()["status"] == "awaiting_payment"
    assert response.json()["money"]["charged"] == "0.00"


def test_api_order_create_same_key_twice_is_one_order_and_one_charge(api, stock):
    first = place(api, key="k-1")
    # the same body, its keys in another order: the same request
    data = body()
    again = place(api, {k: data[k] for k in reversed(list(data))}, key="k-1")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "queued"
    assert Order.objects.count() == 1
    assert charges(first.json()["id"]) == 1
    assert committed() == 2


def test_api_order_create_same_key_other_body_is_422_and_places_nothing(api, stock):
    first = place(api, key="k-1")

    response = place(api, body(number="99-99999-99999"), key="k-1")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert first.json()["number"] in response.json()["error"]["message"]
    assert Order.objects.count() == 1
    assert committed() == 2


def test_api_order_keys_are_per_affiliate(api, stock):
    other = UserFactory()
    CardFactory(affiliate=other.affiliate)

    mine = place(api, key="shared")
    theirs = place(_keyed_client(other), key="shared")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


def test_api_order_replay_never_charges_even_when_a_card_was_added_since(stock):
    # given an order placed with a key while no valid method was on file
    user = UserFactory()
    api = _keyed_client(user)
    first = place(api, key="k-1")
    CardFactory(affiliate=user.affiliate)

    # when the same request comes again
    again = place(api, key="k-1")

    # then it answers with the order as it is: paying it is POST .../pay
    assert first.json()["status"] == again.json()["status"] == "awaiting_payment"
    assert not LedgerEntry.objects.exists()


def test_api_order_replay_never_charges_a_declined_order_again(stock):
    user = UserFactory()
    card = CardFactory(affiliate=user.affiliate)
    SandboxInstrument.objects.filter(token=card.gateway_token).update(declines_charges=True)
    api = _keyed_client(user)

    first = place(api, key="k-1")
    again = place(api, key="k-1")

    assert first.json()["status"] == "awaiting_payment"
    assert again.status_code == 200
    order = Order.objects.get()
    assert order.payment_attempts == 1
    assert OrderEvent.objects.filter(order=order, kind="payment_declined").count() == 1


def test_api_order_refused_lists_problems_and_keeps_nothing(api, stock):
    data = body(
        lines=[
            {"line_code": "ACD", "part_number": "P1", "qty": 11},
            {"line_code": "ACD", "part_number": "NOPE", "qty": 1},
        ],
        ship_to=body()["ship_to"] | {"country": "CA"},
    )

    response = place(api, data, key="k-1")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "order_refused"
    problems = error["problems"]
    assert {"line": None, "field": "country", "message": "FBS ships to US addresses only."} in (
        problems
    )
    # the address is checked before the catalog: fix it and the lines are reported
    assert not Order.objects.exists()
    assert committed() == 0
    assert not ApiIdempotencyKey.objects.exists()
    assert not LedgerEntry.objects.exists()

    response = place(api, body(lines=data["lines"]), key="k-1")

    problems = response.json()["error"]["problems"]
    assert [p["line"] for p in problems] == [1, 2]
    assert "Only 10" in problems[0]["message"]
    assert "not in your catalog" in problems[1]["message"]
    assert not Order.objects.exists()
    assert committed() == 0


def test_api_order_refused_key_can_be_used_once_the_order_is_fixed(api, stock):
    refused = place(
        api, body(lines=[{"line_code": "ACD", "part_number": "NOPE", "qty": 1}]), key="k"
    )

    placed = place(api, key="k")

    assert refused.status_code == 400
    assert placed.status_code == 201


def test_api_order_with_the_same_marketplace_number_again_is_refused(api, stock):
    place(api)

    response = place(api)

    assert response.status_code == 400
    assert response.json()["error"]["problems"][0]["field"] == "marketplace_order_id"
    assert Order.objects.count() == 1


def test_api_order_malformed_body_is_400_with_fields(api, stock):
    response = place(api, body(lines=[{"line_code": "ACD", "part_number": "P1", "qty": "two"}]))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    # A nested field is named by its path: the error shape's `fields` is {name: [messages]}.
    assert response.json()["error"]["fields"] == {"lines[0].qty": ["A valid integer is required."]}
    assert not Order.objects.exists()


def test_api_order_idempotency_key_too_long_is_400(api, stock):
    response = place(api, key="k" * 256)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert not Order.objects.exists()


# --- Reading ------------------------------------------------------------------------------------


def test_api_orders_list_filter_and_pages(api, user, stock):
    ids = [place(api, body(number=f"N-{n}")).json()["id"] for n in range(3)]
    services.order_cancel_request(order=Order.objects.get(pk=ids[0]), user=user)
    other = UserFactory()
    CardFactory(affiliate=other.affiliate)
    place(_keyed_client(other), body(number="N-theirs"))

    everything = api.get(URL).json()
    cancelled = api.get(URL, {"status": "cancelled"}).json()
    page1 = api.get(URL, {"limit": 2}).json()
    page2 = api.get(URL, {"limit": 2, "cursor": page1["next_cursor"]}).json()
    searched = api.get(URL, {"search": "N-1"}).json()

    assert [o["id"] for o in everything["results"]] == ids[::-1]
    assert everything["next_cursor"] is None
    assert [o["id"] for o in cancelled["results"]] == [ids[0]]
    assert [o["id"] for o in page1["results"]] == [ids[2], ids[1]]
    assert [o["id"] for o in page2["results"]] == [ids[0]]
    assert page2["next_cursor"] is None
    assert [o["id"] for o in searched["results"]] == [ids[1]]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "lost"}, "status"), ({"cursor": "nonsense"}, "cursor"), ({"limit": "x"}, "limit")],
)
def test_api_orders_list_bad_parameters_are_400(api, params, field):
    response = api.get(URL, params)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_api_order_detail(api, stock):
    order_id = place(api).json()["id"]

    response = api.get(f"{URL}/{order_id}")

    assert response.status_code == 200
    assert response.json()["id"] == order_id
    assert response.json()["ship_to"]["city"] == "Dallas"
    assert response.json()["marketplace_order_id"] == "12-34567-89012"


# --- Cancel Request -----------------------------------------------------------------------------


def test_api_cancel_request_in_the_window_cancels_and_refunds(api, stock):
    order_id = place(api).json()["id"]

    response = api.post(f"{URL}/{order_id}/cancel-request", {"reason": "buyer"}, format="json")

    assert response.status_code == 200
    data = response.json()
    assert data["outcome"] == "cancelled"
    assert data["buyer_message"] is None
    assert data["order"]["status"] == "cancelled"
    assert data["order"]["money"]["refunded"] == data["order"]["total"]
    assert committed() == 0
    event = OrderEvent.objects.get(order_id=order_id, kind="cancel_request")
    assert "buyer" in event.message


def test_api_cancel_request_stays_within_its_queries(api, stock, django_assert_max_num_queries):
    order_id = place(api).json()["id"]
    api.get(f"{URL}/{order_id}")  # the key's last use is recorded at most once a minute

    # The key (its user and affiliate with it), the service (17 for this order's one item; its
    # first read is whose order it is), and the answer: the order, its lines and its ledger rows
    # (not its timeline nor its attempts).
    with django_assert_max_num_queries(21):
        response = api.post(f"{URL}/{order_id}/cancel-request")

    assert response.json()["outcome"] == "cancelled"


def test_api_cancel_request_after_release_is_too_late(api, stock):
    order_id = place(api).json()["id"]
    services.order_release_due(now=timezone.now() + timedelta(hours=1))

    response = api.post(f"{URL}/{order_id}/cancel-request")

    assert response.status_code == 200
    data = response.json()
    assert data["outcome"] == "too_late"
    assert data["buyer_message"]
    assert data["order"]["status"] == "processing"
    assert data["order"]["money"]["refunded"] == "0.00"


# --- Paying -------------------------------------------------------------------------------------


def test_api_pay_an_order_waiting_for_payment(stock):
    user = UserFactory()
    api = _keyed_client(user)
    order_id = place(api).json()["id"]

    missing = api.post(f"{URL}/{order_id}/pay")
    CardFactory(affiliate=user.affiliate)
    paid = api.post(f"{URL}/{order_id}/pay")
    again = api.post(f"{URL}/{order_id}/pay")

    assert missing.status_code == 402
    assert missing.json()["error"]["code"] == "no_payment_method"
    assert paid.status_code == 200
    assert paid.json()["status"] == "queued"
    assert again.status_code == 409
    assert charges(order_id) == 1


def test_api_pay_declined_is_402_and_the_order_keeps_waiting(stock):
    user = UserFactory()
    api = _keyed_client(user)
    order_id = place(api).json()["id"]
    card = CardFactory(affiliate=user.affiliate)
    SandboxInstrument.objects.filter(token=card.gateway_token).update(declines_charges=True)

    response = api.post(f"{URL}/{order_id}/pay")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_declined"
    assert Order.objects.get(pk=order_id).status == "awaiting_payment"


# --- Special orders -----------------------------------------------------------------------------


@pytest.fixture
def voided(api, stock, settings):
    """An order whose only line no warehouse could fill."""
    settings.FBS_SANDBOX_MISS_RATE = 1.0
    order_id = place(api).json()["id"]
    services.order_release_due(now=timezone.now() + timedelta(hours=1))
    services.order_fulfill(order_id=order_id)
    return order_id


def test_api_special_order_on_a_voided_line_and_withdraw(api, voided):
    before = api.get(f"{URL}/{voided}").json()
    line_id = before["lines"][0]["id"]

    requested = api.post(f"{URL}/{voided}/special-order", {"line": line_id}, format="json")
    withdrawn = api.post(f"{URL}/{voided}/special-order/withdraw", {"line": line_id}, format="json")

    assert before["status"] == "voided"
    assert before["lines"][0]["status"] == "voided"
    assert before["money"]["refunded"] == before["total"]
    assert requested.status_code == 200
    assert requested.json()["status"] == "special_order"
    assert requested.json()["lines"][0]["status"] == "special_order"
    assert withdrawn.status_code == 200
    assert withdrawn.json()["lines"][0]["status"] == "voided"
    assert withdrawn.json()["status"] != "special_order"


def test_api_special_order_errors(api, voided, stock):
    line_id = api.get(f"{URL}/{voided}").json()["lines"][0]["id"]
    open_order = place(api, body(number="N-open")).json()

    unknown = api.post(f"{URL}/{voided}/special-order", {"line": line_id + 100}, format="json")
    not_voided = api.post(
        f"{URL}/{open_order['id']}/special-order",
        {"line": open_order["lines"][0]["id"]},
        format="json",
    )
    not_special = api.post(
        f"{URL}/{voided}/special-order/withdraw", {"line": line_id}, format="json"
    )
    missing = api.post(f"{URL}/{voided}/special-order", {}, format="json")

    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "line_unknown"
    assert not_voided.status_code == 409
    assert not_voided.json()["error"]["code"] == "order_status"
    assert not_special.status_code == 409
    assert missing.status_code == 400
    assert "line" in missing.json()["error"]["fields"]


# --- Who may ------------------------------------------------------------------------------------


def test_api_another_affiliates_order_is_404_everywhere_and_nothing_changes(api, stock):
    other = UserFactory()
    CardFactory(affiliate=other.affiliate)
    theirs = place(_keyed_client(other)).json()
    line_id = theirs["lines"][0]["id"]
    events_before = OrderEvent.objects.filter(order_id=theirs["id"]).count()

    responses = [
        api.get(f"{URL}/{theirs['id']}"),
        api.post(f"{URL}/{theirs['id']}/cancel-request", {"reason": "x"}, format="json"),
        api.post(f"{URL}/{theirs['id']}/pay"),
        api.post(f"{URL}/{theirs['id']}/special-order", {"line": line_id}, format="json"),
        api.post(f"{URL}/{theirs['id']}/special-order/withdraw", {"line": line_id}, format="json"),
    ]

    assert [r.status_code for r in responses] == [404] * 5
    assert {r.json()["error"]["code"] for r in responses} == {"not_found"}
    order = Order.objects.get(pk=theirs["id"])
    assert order.status == "queued"
    assert OrderEvent.objects.filter(order=order).count() == events_before
    assert LedgerEntry.objects.filter(order=order).count() == 1
    assert theirs["number"] not in api.get(URL).content.decode()


def test_api_orders_without_key_is_401(api_client, stock):
    responses = [
        api_client.get(URL),
        api_client.post(URL, body(), format="json"),
        api_client.post(f"{URL}/1/cancel-request"),
    ]

    assert [r.status_code for r in responses] == [401] * 3
    assert not Order.objects.exists()


def test_api_schema_lists_the_orders_endpoints(api_client):
    schema = api_client.get("/api/v1/schema").content.decode()

    assert "/api/v1/orders/{id}/cancel-request" in schema
    assert "Idempotency-Key" in schema


# --- At the same moment (PostgreSQL) ------------------------------------------------------------


def _at_once(*calls):
    barrier = threading.Barrier(len(calls))
    results, errors = [], []

    def run(call):
        try:
            barrier.wait()
            results.append(call())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_api_order_same_key_at_the_same_moment_is_one_order_and_one_charge():
    import_feed("WH1", [("ACD", "P1", 10, "5.00")])
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)
    clients = [_keyed_client(user) for _ in range(4)]

    results, errors = _at_once(*[(lambda c=c: place(c, key="k-race")) for c in clients])

    assert errors == []
    assert sorted(r.status_code for r in results) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in results}) == 1
    order = Order.objects.get()
    assert charges(order.pk) == 1
    assert committed() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_api_order_same_key_other_bodies_at_the_same_moment_place_one():
    import_feed("WH1", [("ACD", "P1", 10, "5.00")])
    user = UserFactory()
    CardFactory(affiliate=user.affiliate)
    clients = [_keyed_client(user) for _ in range(4)]

    results, errors = _at_once(
        *[
            (lambda c=c, n=n: place(c, body(number=f"N-{n}"), key="k-race"))
            for n, c in enumerate(clients)
        ]
    )

    assert errors == []
    assert sorted(r.status_code for r in results) == [201, 422, 422, 422]
    assert Order.objects.count() == 1
    assert committed() == 2

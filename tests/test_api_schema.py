"""The OpenAPI schema says what the API really does (issue 11, item 18).

Schemathesis reads /api/v1/schema from the running app (Django's WSGI application, in this
process: the requests go through every middleware, as gunicorn's would), generates requests for
every operation, valid ones and invalid ones, sends them with a test affiliate's API key, and
checks each answer: never a 5xx, only documented status codes and content types, bodies and
headers that match the schema. Runs on PostgreSQL, where NUL bytes and out-of-range numbers are
refused by the database: the inputs that used to become 500s.
"""

import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from affiliates.services import api_key_create
from claims import services as claim_services
from inventory.models import Item
from sophio_fbs.wsgi import application
from tests.test_claims_helpers import make_user, png_bytes, use_private_storage, voided_line

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Enough to reach every branch of the schema (valid and invalid values of each field), small
# enough for CI: about a minute for all operations on a slow machine.
EXAMPLES_PER_OPERATION = 25


# The schema as the app serves it, read once when the tests are collected (the schema view
# needs no database).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", application)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler would close the test's database connection after each request (and
    with it the test's transaction); Django's own test client disconnects the same signal."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Bodies that succeed only with values the catalog and the order agree with (a part in stock, a
# voided line of the order): generated ones are refused, as they should be. Their successes are
# in test_orders_api.py and test_claims_api.py.
NEEDS_BUSINESS_DATA = {"POST /api/v1/orders", "POST /api/v1/claims"}


@pytest.fixture
def answers(request):
    """The status codes one operation answered. Unless its bodies need business data, at least
    one must be a success: an operation that only ever refused proves little."""
    codes = []
    yield codes
    operation = request.node.name.split("[", 1)[-1].rstrip("]")
    assert codes
    if operation not in NEEDS_BUSINESS_DATA:
        assert any(200 <= code < 300 for code in codes), (operation, sorted(set(codes)))


@pytest.fixture
def affiliate(db, settings, tmp_path):
    """An affiliate with stock to see, a card, an order with a voided line and a claim: its key,
    and the id of one object of each kind, for the operations with an id in the path."""
    use_private_storage(settings, tmp_path)
    user = make_user(min_stock=3)
    user, order, line = voided_line(user=user)
    claim = claim_services.claim_file(
        affiliate=user.affiliate,
        user=user,
        order_id=order.pk,
        line_id=line.pk,
        supplier_name="Local parts",
        purchased_on=timezone.localdate(order.created_at),
        amount="12.50",
        receipt=SimpleUploadedFile("r.png", png_bytes(), content_type="image/png"),
    )
    _, raw = api_key_create(user=user, name="schemathesis")
    ids = {
        "catalog": Item.objects.order_by("pk").values_list("pk", flat=True).first(),
        "claims": claim.pk,
        "orders": order.pk,
        "payment-methods": user.affiliate.payment_methods.get().pk,
    }
    return {"Authorization": f"Bearer {raw}"}, ids


@schema.parametrize()
@hsettings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_every_operation_answers_as_its_schema_says(case, affiliate, answers):
    auth, ids = affiliate

    answers.append(case.call_and_validate(headers=auth, checks=CHECKS).status_code)

    if "id" in (case.path_parameters or {}):
        # The same request for an object the affiliate has: generated ids are nearly all 404s.
        case.path_parameters = {**case.path_parameters, "id": ids[case.path.split("/")[3]]}
        answers.append(case.call_and_validate(headers=auth, checks=CHECKS).status_code)


def test_api_schema_documents_the_error_shape_pages_and_every_answer(client):
    document = client.get("/api/v1/schema?format=json").json()

    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, method, operation in operations:
        responses = operation["responses"]
        assert {"400", "401", "403", "406", "429"} <= set(responses), (method, path)
        assert "Retry-After" in responses["429"]["headers"]
        if "{" in path:
            assert "404" in responses, (method, path)
        if "requestBody" in operation:
            assert {"413", "415"} <= set(responses), (method, path)
        if any(p["name"] == "cursor" for p in operation.get("parameters", [])):
            link = responses["200"]["links"]["next_page"]
            assert link["parameters"] == {"cursor": "$response.body#/next_cursor"}
    listed = {
        op["operationId"] for _, _, op in operations if "links" in op["responses"].get("200", {})
    }
    assert listed == {"catalog_list", "orders_list", "claims_list"}
    payment_method = document["components"]["schemas"]["PaymentMethod"]["properties"]
    assert "format" not in payment_method["paypal_email"]

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from affiliates.models import Affiliate, ApiKey, User, api_key_hash

pytestmark = pytest.mark.django_db


def test_create_affiliate_with_card():
    out = StringIO()

    call_command(
        "create_affiliate",
        "shop1",
        "--password",
        "a-long-pass-phrase",
        "--company",
        "Shop One",
        "--min-stock",
        "3",
        "--card",
        "4242424242424242",
        "--card-expiry",
        "12/39",
        stdout=out,
    )

    affiliate = Affiliate.objects.get(name="Shop One")
    assert affiliate.min_stock == 3
    assert affiliate.payment_methods.get().last4 == "4242"
    assert "Shop One" in out.getvalue()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--min-stock", "1"], "Min stock must be 2 or more"),
        (["--card", "4000000000000002", "--card-expiry", "12/39"], "declined"),
        (["--card", "4242424242424242", "--card-expiry", "01/20"], "expired"),
        (["--card", "4242424242424242"], "--card and --card-expiry go together"),
    ],
)
def test_create_affiliate_says_why_not_and_creates_nothing(extra, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_affiliate", "shop2", "--password", "a-long-pass-phrase", *extra)

    assert not User.objects.filter(username="shop2").exists()
    assert not Affiliate.objects.exists()


def test_create_api_key_prints_the_key_alone_on_the_last_line():
    call_command("create_affiliate", "shop3", "--password", "a-long-pass-phrase")
    out = StringIO()

    call_command("create_api_key", "shop3", stdout=out, stderr=StringIO())

    raw = out.getvalue().strip().splitlines()[-1]
    assert ApiKey.objects.get().key_hash == api_key_hash(raw)


def test_create_api_key_unknown_user():
    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_key", "ghost")


def test_seed_demo_is_idempotent_and_covers_the_three_cases():
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", stdout=out)

    assert Affiliate.objects.count() == 3
    with_card = {a.min_stock for a in Affiliate.objects.filter(payment_methods__isnull=False)}
    assert with_card == {2, 3}
    assert Affiliate.objects.filter(payment_methods__isnull=True).count() == 1
    assert User.objects.get(username="support").groups.filter(name="Support").exists()
    assert "rapid-auto" in out.getvalue()

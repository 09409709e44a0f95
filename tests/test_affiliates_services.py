import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from affiliates import services
from affiliates.errors import AffiliateInvalidError, MinStockInvalidError
from affiliates.models import Affiliate, PaymentMethod, User
from payments.errors import CardDeclinedError, CardExpiredError, CardInvalidError
from payments.gateways.sandbox import SandboxGateway
from sophio_fbs.errors import DomainError
from tests.factories import AffiliateFactory, CardFactory, UserFactory

pytestmark = pytest.mark.django_db

GOOD = "4242 4242 4242 4242"
DECLINES = "4000000000000002"


def _next_year() -> int:
    return timezone.localdate().year + 1


def test_affiliate_create_makes_account_and_user():
    affiliate, user = services.affiliate_create(
        username="newco",
        password="a-long-pass-phrase",
        company="NewCo",
        email="a@newco.test",
        min_stock=3,
        marketplaces=["ebay", "amazon"],
    )

    assert affiliate.min_stock == 3
    assert user.affiliate == affiliate
    assert user.check_password("a-long-pass-phrase")
    assert not user.is_staff


@pytest.mark.parametrize("min_stock", [1, 0, -4])
def test_affiliate_create_refuses_min_stock_below_two_and_keeps_nothing(min_stock):
    with pytest.raises(MinStockInvalidError):
        services.affiliate_create(
            username="lowstock",
            password="a-long-pass-phrase",
            company="Low",
            email="l@x.test",
            min_stock=min_stock,
        )

    assert not User.objects.filter(username="lowstock").exists()
    assert not Affiliate.objects.exists()


def test_affiliate_create_refuses_a_weak_password_and_keeps_nothing():
    with pytest.raises(AffiliateInvalidError) as exc:
        services.affiliate_create(username="weak", password="123", company="W", email="w@x.test")

    assert exc.value.field == "password"
    assert not Affiliate.objects.exists()


def test_affiliate_update_refuses_min_stock_one_and_keeps_the_old_value():
    affiliate = AffiliateFactory(min_stock=4)

    with pytest.raises(MinStockInvalidError):
        services.affiliate_update(
            affiliate=affiliate,
            name=affiliate.name,
            contact_email=affiliate.contact_email,
            min_stock=1,
            marketplaces=[],
        )

    affiliate.refresh_from_db()
    assert affiliate.min_stock == 4


def test_payment_method_add_card_keeps_only_token_brand_last4_and_expiry():
    affiliate = AffiliateFactory()

    method = services.payment_method_add_card(
        affiliate=affiliate, number=GOOD, exp_month=8, exp_year=_next_year()
    )

    assert (method.brand, method.last4, method.exp_month) == ("Visa", "4242", 8)
    assert method.gateway_token.startswith("tok_sandbox_")
    assert method.is_default  # the first method on file
    stored = [str(v) for v in PaymentMethod.objects.values_list(flat=False).get(pk=method.pk)]
    assert not any("4242424242424242" in v for v in stored)


@pytest.mark.parametrize(
    ("number", "exp", "error"),
    [
        ("4242424242424241", (8, 2099), CardInvalidError),  # fails the Luhn check
        ("not a number", (8, 2099), CardInvalidError),
        (GOOD, (1, 2020), CardExpiredError),
        (DECLINES, (8, 2099), CardDeclinedError),
    ],
)
def test_payment_method_add_card_refuses_bad_cards_and_keeps_nothing(number, exp, error):
    affiliate = AffiliateFactory()

    with pytest.raises(error):
        services.payment_method_add_card(
            affiliate=affiliate, number=number, exp_month=exp[0], exp_year=exp[1]
        )

    assert not affiliate.payment_methods.exists()


def test_payment_method_declined_card_never_becomes_default():
    affiliate = AffiliateFactory()
    first = CardFactory(affiliate=affiliate)

    with pytest.raises(CardDeclinedError):
        services.payment_method_add_card(
            affiliate=affiliate,
            number=DECLINES,
            exp_month=1,
            exp_year=_next_year(),
            make_default=True,
        )

    assert list(affiliate.payment_methods.filter(is_default=True)) == [first]


def test_payment_method_same_card_twice_is_one_method():
    affiliate = AffiliateFactory()

    first = services.payment_method_add_card(
        affiliate=affiliate, number=GOOD, exp_month=8, exp_year=_next_year()
    )
    second = services.payment_method_add_card(
        affiliate=affiliate, number=GOOD, exp_month=8, exp_year=_next_year()
    )

    assert first.pk == second.pk
    assert affiliate.payment_methods.count() == 1


def test_payment_method_set_default_moves_the_default():
    affiliate = AffiliateFactory()
    first = CardFactory(affiliate=affiliate)
    paypal = services.payment_method_add_paypal(affiliate=affiliate, email="pay@x.test")
    assert not paypal.is_default

    services.payment_method_set_default(affiliate=affiliate, payment_method_id=paypal.pk)

    first.refresh_from_db()
    paypal.refresh_from_db()
    assert (first.is_default, paypal.is_default) == (False, True)


def test_payment_method_expired_card_cannot_be_default_and_is_not_valid():
    affiliate = AffiliateFactory()
    CardFactory(affiliate=affiliate)
    expired = CardFactory(affiliate=affiliate, is_default=False, exp_month=1, exp_year=2020)

    with pytest.raises(AffiliateInvalidError):
        services.payment_method_set_default(affiliate=affiliate, payment_method_id=expired.pk)

    assert not expired.is_valid()
    assert expired not in affiliate.payment_methods.valid()
    expired.refresh_from_db()
    assert not expired.is_default


def test_payment_method_valid_until_end_of_expiry_month():
    card = CardFactory(exp_month=3, exp_year=2027)

    assert card.is_valid(on=datetime.date(2027, 3, 31))
    assert not card.is_valid(on=datetime.date(2027, 4, 1))
    assert PaymentMethod.objects.valid(on=datetime.date(2027, 3, 31)).filter(pk=card.pk).exists()
    assert not PaymentMethod.objects.valid(on=datetime.date(2027, 4, 1)).filter(pk=card.pk).exists()


def test_payment_method_remove_default_promotes_newest_valid():
    affiliate = AffiliateFactory()
    default = CardFactory(affiliate=affiliate)
    CardFactory(affiliate=affiliate, is_default=False, exp_year=2020)  # expired: never promoted
    valid = CardFactory(affiliate=affiliate, is_default=False)

    services.payment_method_remove(affiliate=affiliate, payment_method_id=default.pk)

    valid.refresh_from_db()
    assert valid.is_default
    assert affiliate.payment_methods.filter(is_default=True).count() == 1


def test_payment_method_of_another_affiliate_cannot_be_touched():
    mine, theirs = AffiliateFactory(), AffiliateFactory()
    their_card = CardFactory(affiliate=theirs)

    with pytest.raises(PaymentMethod.DoesNotExist):
        services.payment_method_remove(affiliate=mine, payment_method_id=their_card.pk)

    assert PaymentMethod.objects.filter(pk=their_card.pk).exists()


def test_api_key_create_stores_only_a_hash_and_use_finds_it():
    user = UserFactory()

    key, raw = services.api_key_create(user=user, name="lister")

    assert raw not in (key.key_hash, key.prefix)
    assert raw.startswith(key.prefix)
    assert services.api_key_use(raw) == key
    assert services.api_key_use(raw + "x") is None


def test_api_key_revoked_is_refused():
    user = UserFactory()
    key, raw = services.api_key_create(user=user, name="lister")

    services.api_key_revoke(affiliate=user.affiliate, api_key_id=key.pk)

    assert services.api_key_use(raw) is None


def test_api_key_staff_cannot_have_one():
    staff = UserFactory(affiliate=None, is_staff=True)

    with pytest.raises(AffiliateInvalidError):
        services.api_key_create(user=staff, name="x")


def test_parse_card_expiry_accepts_mm_yy_and_refuses_nonsense():
    assert services.parse_card_expiry("08/29") == (8, 2029)
    assert services.parse_card_expiry("8/2031") == (8, 2031)
    for bad in ("13/29", "0829", "aa/bb", ""):
        with pytest.raises(DomainError):
            services.parse_card_expiry(bad)


def test_sandbox_charge_declines_card_0341_and_replays_by_key():
    gateway = SandboxGateway()
    good = gateway.card_store(number=GOOD, exp_month=1, exp_year=_next_year(), idempotency_key="k1")
    bad = gateway.card_store(
        number="4000000000000341", exp_month=1, exp_year=_next_year(), idempotency_key="k2"
    )

    ok = gateway.charge(token=good.token, amount=Decimal("12.50"), idempotency_key="c1")
    again = gateway.charge(token=good.token, amount=Decimal("12.50"), idempotency_key="c1")
    declined = gateway.charge(token=bad.token, amount=Decimal("12.50"), idempotency_key="c2")

    assert ok.succeeded
    assert ok == again
    assert not declined.succeeded
    assert declined.decline_code == "card_declined"

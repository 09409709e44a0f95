import pytest
from django.urls import reverse

from affiliates.models import PaymentMethod
from tests.factories import PASSWORD, AffiliateFactory, CardFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def affiliate_user(client):
    user = UserFactory(affiliate__min_stock=2)
    client.force_login(user)
    return user


def test_login_sends_affiliates_to_dashboard_and_staff_to_admin(client):
    user = UserFactory()
    staff = StaffFactory()

    as_affiliate = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    client.logout()
    as_staff = client.post(reverse("login"), {"username": staff.username, "password": PASSWORD})

    assert as_affiliate.url == reverse("dashboard")
    assert as_staff.url == reverse("admin:index")


def test_login_locks_out_after_repeated_wrong_passwords(client):
    user = UserFactory()
    for _ in range(5):
        client.post(reverse("login"), {"username": user.username, "password": "wrong-one"})

    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})

    assert response.status_code == 429
    assert b"Too many failed log-ins" in response.content


def test_pages_need_login(client):
    for url in (reverse("dashboard"), reverse("affiliates:settings")):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_settings_page_shows_min_stock_and_cards(client, affiliate_user):
    CardFactory(affiliate=affiliate_user.affiliate)

    response = client.get(reverse("affiliates:settings"))

    assert response.status_code == 200
    assert b"Visa \xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2 4242" in response.content
    assert b"tok_factory" not in response.content  # the token is never shown


def test_settings_min_stock_saved(client, affiliate_user):
    affiliate = affiliate_user.affiliate

    response = client.post(
        reverse("affiliates:account-update"),
        {
            "account-name": affiliate.name,
            "account-contact_email": affiliate.contact_email,
            "account-min_stock": "3",
            "account-marketplaces": ["ebay", "amazon"],
        },
    )

    assert response.status_code == 302
    affiliate.refresh_from_db()
    assert affiliate.min_stock == 3
    assert affiliate.marketplaces == ["ebay", "amazon"]


@pytest.mark.parametrize("value", ["1", "0", "-3", "2.5", "many"])
def test_settings_min_stock_below_two_or_not_whole_is_a_form_error(client, affiliate_user, value):
    affiliate = affiliate_user.affiliate

    response = client.post(
        reverse("affiliates:account-update"),
        {
            "account-name": affiliate.name,
            "account-contact_email": affiliate.contact_email,
            "account-min_stock": value,
        },
    )

    assert response.status_code == 200
    assert response.context["account_form"].errors["min_stock"]
    affiliate.refresh_from_db()
    assert affiliate.min_stock == 2


@pytest.mark.parametrize(
    ("number", "expiry", "message"),
    [
        ("4242424242424241", "12/39", "not valid"),
        ("4242424242424242", "01/20", "expired"),
        ("4000000000000002", "12/39", "declined"),
        ("4242424242424242", "13/39", "between 01 and 12"),
    ],
)
def test_settings_bad_card_is_a_form_error_and_nothing_saved(
    client, affiliate_user, number, expiry, message
):
    response = client.post(
        reverse("affiliates:card-add"), {"card-number": number, "card-expiry": expiry}
    )

    assert response.status_code == 200
    assert message in str(response.context["card_form"].errors)
    assert number.encode() not in response.content  # the number is not echoed back
    assert not PaymentMethod.objects.exists()


def test_settings_add_card_then_paypal_and_switch_default(client, affiliate_user):
    client.post(
        reverse("affiliates:card-add"), {"card-number": "4242424242424242", "card-expiry": "12/39"}
    )
    client.post(reverse("affiliates:paypal-add"), {"paypal-email": "pay@shop.test"})
    paypal = PaymentMethod.objects.get(kind="paypal")

    client.post(reverse("affiliates:payment-method-default", args=[paypal.pk]))

    assert list(affiliate_user.affiliate.payment_methods.filter(is_default=True)) == [paypal]


def test_settings_another_affiliates_payment_method_is_404(client, affiliate_user):
    theirs = CardFactory(affiliate=AffiliateFactory())

    for name in ("affiliates:payment-method-default", "affiliates:payment-method-remove"):
        assert client.post(reverse(name, args=[theirs.pk])).status_code == 404
    assert PaymentMethod.objects.filter(pk=theirs.pk, is_default=True).exists()


def test_settings_api_key_shown_once_then_only_prefix(client, affiliate_user):
    response = client.post(reverse("affiliates:api-key-create"), {"key-name": "lister"})
    raw = response.context["new_api_key"]

    assert raw.encode() in response.content
    assert response["Cache-Control"] == "no-store"
    later = client.get(reverse("affiliates:settings"))
    assert raw.encode() not in later.content
    assert raw[:12].encode() in later.content


def test_settings_revoke_another_affiliates_key_is_404(client, affiliate_user):
    other = UserFactory()
    from affiliates.services import api_key_create

    key, _ = api_key_create(user=other, name="theirs")

    assert client.post(reverse("affiliates:api-key-revoke", args=[key.pk])).status_code == 404
    key.refresh_from_db()
    assert key.is_active


def test_admin_refuses_affiliate_users(client, affiliate_user):
    response = client.get(reverse("admin:index"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_staff_opening_the_panel_land_in_admin(client):
    client.force_login(StaffFactory())

    assert client.get(reverse("dashboard")).url == reverse("admin:index")


def test_finance_can_view_but_not_change_affiliates(client):
    affiliate = AffiliateFactory()
    client.force_login(StaffFactory(group="Finance"))

    listing = client.get(reverse("admin:affiliates_affiliate_changelist"))
    detail = client.get(reverse("admin:affiliates_affiliate_change", args=[affiliate.pk]))
    change = client.post(
        reverse("admin:affiliates_affiliate_change", args=[affiliate.pk]),
        {"name": "Renamed", "contact_email": "x@x.test", "min_stock": 9},
    )

    assert listing.status_code == 200
    assert affiliate.name.encode() in listing.content
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert change.status_code == 403
    affiliate.refresh_from_db()
    assert affiliate.name != "Renamed"


def test_support_can_change_affiliates(client):
    affiliate = AffiliateFactory()
    client.force_login(StaffFactory(group="Support"))

    detail = client.get(reverse("admin:affiliates_affiliate_change", args=[affiliate.pk]))

    assert b'name="_save"' in detail.content


def test_admin_payment_methods_are_masked_and_api_keys_hide_the_hash(client):
    card = CardFactory()
    user = UserFactory(affiliate=card.affiliate)
    from affiliates.services import api_key_create

    key, raw = api_key_create(user=user, name="k")
    client.force_login(StaffFactory(is_superuser=True))

    methods = client.get(reverse("admin:affiliates_paymentmethod_change", args=[card.pk]))
    keys = client.get(reverse("admin:affiliates_apikey_change", args=[key.pk]))

    assert card.gateway_token.encode() not in methods.content
    assert b"4242" in methods.content
    assert key.key_hash.encode() not in keys.content
    assert raw.encode() not in keys.content


def _argon2_19mib(password):
    from django.contrib.auth.hashers import Argon2PasswordHasher

    class Earlier(Argon2PasswordHasher):
        time_cost, memory_cost, parallelism = 2, 19 * 1024, 1

    return Earlier().encode(password, "saltsaltsaltsalt")


def _pbkdf2(password):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    return PBKDF2PasswordHasher().encode(password, "saltsaltsaltsalt")


@pytest.mark.parametrize("earlier", [_pbkdf2, _argon2_19mib], ids=["pbkdf2", "argon2-19MiB"])
def test_login_hashes_with_argon2id_and_upgrades_an_earlier_hash(client, settings, earlier):
    from sophio_fbs import settings as project_settings

    # given the project's own hashers (the suite otherwise uses a fast one) and a user whose
    # password was stored with Django's default PBKDF2, or with Argon2id at 19 MiB x 2
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS
    user = UserFactory()
    user.password = earlier(PASSWORD)
    user.save(update_fields=["password"])

    # when the user logs in
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})

    # then the login works and the stored hash is now Argon2id at 9 MiB x 4 passes
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$v=19$m=9216,t=4,p=1$")
    assert user.check_password(PASSWORD)

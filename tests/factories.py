import factory
from django.contrib.auth.models import Group

from affiliates.models import Affiliate, ApiKey, PaymentMethod, User, api_key_hash
from payments.models import SandboxInstrument

PASSWORD = "correct-horse-battery"


class AffiliateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Affiliate

    name = factory.Sequence(lambda n: f"Affiliate {n}")
    contact_email = factory.Sequence(lambda n: f"affiliate{n}@example.com")
    min_stock = 2
    marketplaces = factory.LazyFunction(lambda: ["ebay"])


class UserFactory(factory.django.DjangoModelFactory):
    """An affiliate's user."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    affiliate = factory.SubFactory(AffiliateFactory)
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(UserFactory):
    affiliate = None
    is_staff = True

    @factory.post_generation
    def group(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.groups.add(Group.objects.get(name=extracted))


class CardFactory(factory.django.DjangoModelFactory):
    """A card on file, with its sandbox-side instrument so charges work."""

    class Meta:
        model = PaymentMethod
        skip_postgeneration_save = True

    affiliate = factory.SubFactory(AffiliateFactory)
    kind = PaymentMethod.Kind.CARD
    brand = "Visa"
    last4 = "4242"
    exp_month = 12
    exp_year = 2035
    is_default = True
    gateway_token = factory.Sequence(lambda n: f"tok_factory_{n}")

    @factory.post_generation
    def _instrument(obj, create, extracted, **kwargs):
        if create:
            SandboxInstrument.objects.create(
                token=obj.gateway_token,
                kind="card",
                brand=obj.brand,
                last4=obj.last4,
                exp_month=obj.exp_month,
                exp_year=obj.exp_year,
            )


def make_api_key(user: User, raw: str = "fbs_test-key-0123456789") -> tuple[ApiKey, str]:
    key = ApiKey.objects.create(
        affiliate=user.affiliate,
        user=user,
        name="test",
        prefix=raw[:12],
        key_hash=api_key_hash(raw),
    )
    return key, raw

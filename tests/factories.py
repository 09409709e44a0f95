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


def import_feed(
    code: str, rows, *, header: str | None = None, force: bool = False, allow_empty: bool = False
):
    """Run a feed import of `rows` ((line_code, part, qty, cost[, description]) tuples or raw
    CSV text) for warehouse `code` through the real service; return the FeedImport.
    `allow_empty`: the feed may take most of the warehouse's stock away (feed_import.guards), as a
    test that empties a warehouse on purpose says."""
    import io

    from inventory.services import feed_import_create, feed_import_run

    if isinstance(rows, bytes):
        data = rows
    elif isinstance(rows, str):
        data = rows.encode()
    else:
        rows = list(rows)
        if header is None:
            header = "line_code,part_number,qty,cost" + (
                ",description" if rows and len(rows[0]) == 5 else ""
            )
        lines = [header] + [",".join(str(v) for v in row) for row in rows]
        data = ("\n".join(lines) + "\n").encode()
    feed_import = feed_import_create(
        file_name=f"{code}.csv",
        warehouse_code=code,
        allow_empty=allow_empty,
        allow_empty_by="test" if allow_empty else "",
    )
    return feed_import_run(feed_import=feed_import, fileobj=io.BytesIO(data), force=force)

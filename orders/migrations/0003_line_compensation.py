"""A line is compensated once: the column that records how, and the lines that already are."""

from django.db import migrations, models
from django.db.models import Q

LIVE_CLAIM = ["in_review", "needs_info", "approved", "paid"]


def record_compensations(apps, schema_editor):
    OrderLine = apps.get_model("orders", "OrderLine")
    Claim = apps.get_model("claims", "Claim")
    # Special orders waiting, and those restocked since (their refund was reversed).
    OrderLine.objects.filter(
        Q(status="special_order")
        | Q(reversal_attempts_done__gt=0, status__in=["open", "fulfilled", "shipped"])
    ).update(compensation="special_order")
    # Lines with a live claim that are not special orders. A special order that also has a live
    # claim (a legacy pair) keeps the special order: the check below requires it, and deciding
    # money is Support's, not a migration's. Such a claim cannot be approved or paid (the claim
    # services refuse unless the line's compensation is "claim"); admin lists the pairs under
    # the "line compensation" filter and warns on the claim's page, so Support denies the claim
    # or has the special order withdrawn (then approving takes the line for the claim).
    claimed = Claim.objects.filter(status__in=LIVE_CLAIM).values("line_id")
    OrderLine.objects.filter(pk__in=claimed, compensation="").update(compensation="claim")


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0003_stock_indexes_feed_hash"),
        ("orders", "0002_staff_permissions"),
        ("claims", "0002_staff_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="orderline",
            name="compensation",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Not compensated"),
                    ("special_order", "Special order"),
                    ("claim", "Claim"),
                ],
                default="",
                max_length=20,
            ),
        ),
        migrations.RunPython(record_compensations, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="orderline",
            constraint=models.CheckConstraint(
                condition=~Q(status="special_order") | Q(compensation="special_order"),
                name="line_special_order_is_its_compensation",
            ),
        ),
    ]

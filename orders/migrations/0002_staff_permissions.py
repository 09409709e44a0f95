from django.db import migrations

from affiliates.migrations._groups import sync_groups

GROUP_PERMISSIONS = {
    "Finance": [
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_orderevent",
        "orders.view_sourcingattempt",
    ],
    # Support looks after orders: "change order" is what runs the admin actions (Cancel Request,
    # restart fulfillment, clear the flag); no field of an order is edited by hand.
    "Support": [
        "orders.view_order",
        "orders.change_order",
        "orders.view_orderline",
        "orders.view_orderevent",
        "orders.view_sourcingattempt",
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("affiliates", "0002_staff_groups"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: sync_groups(apps, GROUP_PERMISSIONS),
            migrations.RunPython.noop,
        )
    ]

from django.db import migrations

from affiliates.migrations._groups import sync_groups

GROUP_PERMISSIONS = {
    "Finance": [
        "inventory.view_warehouse",
        "inventory.view_item",
        "inventory.view_stock",
        "inventory.view_feedimport",
    ],
    # Support runs the inventory: uploads feeds, switches warehouses on and off.
    "Support": [
        "inventory.view_warehouse",
        "inventory.change_warehouse",
        "inventory.view_item",
        "inventory.view_stock",
        "inventory.view_feedimport",
        "inventory.add_feedimport",
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("affiliates", "0002_staff_groups"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: sync_groups(apps, GROUP_PERMISSIONS),
            migrations.RunPython.noop,
        )
    ]

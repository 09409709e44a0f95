"""The staff groups and the model permissions their work needs.

Later apps add their own permissions to these groups in their own migrations.
"""

from django.db import migrations

from affiliates.migrations._groups import sync_groups

GROUP_PERMISSIONS = {
    # Finance reads everything money touches.
    "Finance": [
        "affiliates.view_affiliate",
        "affiliates.view_user",
        "affiliates.view_paymentmethod",
        "affiliates.view_apikey",
        "payments.view_ledgerentry",
    ],
    # Support looks after accounts: edits affiliates and their users, revokes keys.
    "Support": [
        "affiliates.view_affiliate",
        "affiliates.change_affiliate",
        "affiliates.view_user",
        "affiliates.change_user",
        "affiliates.view_paymentmethod",
        "affiliates.view_apikey",
        "affiliates.change_apikey",
        "payments.view_ledgerentry",
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("affiliates", "0001_initial"),
        ("payments", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: sync_groups(apps, GROUP_PERMISSIONS),
            migrations.RunPython.noop,
        )
    ]

"""The staff groups and the model permissions their work needs.

Later apps add their own permissions to these groups in their own migrations.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

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


def sync_groups(apps, schema_editor, group_permissions=GROUP_PERMISSIONS):
    # Permissions are normally created after all migrations; create them now so we can use them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in group_permissions.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("affiliates", "0001_initial"),
        ("payments", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]

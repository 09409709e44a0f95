"""Support and Finance read the audit log in admin (issue 11, item 9). Nobody changes it: its
admin allows no add, change or delete whatever the permissions."""

from django.db import migrations

from affiliates.migrations._groups import sync_groups

GROUP_PERMISSIONS = {
    "Finance": ["auditlog.view_logentry"],
    "Support": ["auditlog.view_logentry"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("affiliates", "0002_staff_groups"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: sync_groups(apps, GROUP_PERMISSIONS),
            migrations.RunPython.noop,
        )
    ]

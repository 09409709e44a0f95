from django.db import migrations

from affiliates.migrations._groups import sync_groups

GROUP_PERMISSIONS = {
    # Finance reads claims, exports them (CSV/XLSX, the streamed CSV, the monthly summary) and
    # marks approved ones paid in payout batches. It does not decide claims.
    "Finance": [
        "claims.view_claim",
        "claims.export_claim",
        "claims.pay_claim",
        "claims.view_claimmessage",
        "claims.view_payoutbatch",
    ],
    # Support reviews claims: "change claim" is what runs the decisions in admin (approve, deny,
    # ask for more information); no field of a claim is edited by hand.
    "Support": [
        "claims.view_claim",
        "claims.change_claim",
        "claims.view_claimmessage",
        "claims.view_payoutbatch",
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0001_initial"),
        ("affiliates", "0002_staff_groups"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: sync_groups(apps, GROUP_PERMISSIONS),
            migrations.RunPython.noop,
        )
    ]

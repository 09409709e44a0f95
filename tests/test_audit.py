"""Issue 11, item 9: security-relevant changes leave an audit row with who, when, before and after.

Each change is made through the real path (the Settings page, the API with a key, admin) and the
audit entry is read back: its actor, its before and after, and never a secret.
"""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from affiliates.models import ApiKey, PaymentMethod, User
from affiliates.services import payment_method_set_default
from inventory.models import Warehouse
from tests.factories import CardFactory, StaffFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db


def entries_for(obj, action=None):
    found = LogEntry.objects.get_for_object(obj).order_by("timestamp", "pk")
    if action is not None:
        found = found.filter(action=action)
    return list(found)


def last_change(obj) -> LogEntry:
    entry = LogEntry.objects.get_for_object(obj).order_by("-timestamp", "-pk").first()
    assert entry is not None, f"no audit entry for {obj!r}"
    return entry


def assert_recent(entry: LogEntry):
    assert timezone.now() - entry.timestamp < timedelta(minutes=5)


@pytest.fixture
def affiliate_user(client):
    user = UserFactory(affiliate__min_stock=2)
    client.force_login(user)
    return user


def keyed_client(api_client, user):
    _, raw = make_api_key(user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_client


# --- min stock -------------------------------------------------------------------------------


def test_audit_min_stock_changed_on_the_settings_page(client, affiliate_user):
    affiliate = affiliate_user.affiliate

    response = client.post(
        reverse("affiliates:account-update"),
        {
            "account-name": affiliate.name,
            "account-contact_email": affiliate.contact_email,
            "account-min_stock": "5",
            "account-marketplaces": ["ebay"],
        },
        REMOTE_ADDR="198.51.100.40",
        HTTP_X_FORWARDED_FOR="10.1.2.3",  # the client's own say: not its address
    )

    assert response.status_code == 302
    entry = last_change(affiliate)
    assert entry.remote_addr == "198.51.100.40"
    assert entry.action == LogEntry.Action.UPDATE
    assert entry.actor == affiliate_user
    assert entry.changes_dict["min_stock"] == ["2", "5"]
    assert_recent(entry)


def test_audit_min_stock_changed_through_the_api_names_the_keys_user(api_client):
    user = UserFactory(affiliate__min_stock=3)
    client = keyed_client(api_client, user)

    response = client.patch("/api/v1/me", {"min_stock": 7}, format="json")

    assert response.status_code == 200
    entry = last_change(user.affiliate)
    assert entry.actor == user
    assert entry.changes_dict["min_stock"] == ["3", "7"]


def test_audit_min_stock_changed_in_admin_by_support(client):
    support = StaffFactory(group="Support")
    user = UserFactory(affiliate__min_stock=2)
    affiliate = user.affiliate
    client.force_login(support)

    response = client.post(
        reverse("admin:affiliates_affiliate_change", args=[affiliate.pk]),
        {
            "name": affiliate.name,
            "contact_email": affiliate.contact_email,
            "min_stock": "4",
            "marketplaces": '["ebay"]',
            "is_active": "on",
            "users-TOTAL_FORMS": "1",
            "users-INITIAL_FORMS": "1",
            "users-MIN_NUM_FORMS": "0",
            "users-MAX_NUM_FORMS": "1000",
            "users-0-id": str(user.pk),
            "users-0-affiliate": str(affiliate.pk),
            "users-0-is_active": "on",
            "payment_methods-TOTAL_FORMS": "0",
            "payment_methods-INITIAL_FORMS": "0",
            "payment_methods-MIN_NUM_FORMS": "0",
            "payment_methods-MAX_NUM_FORMS": "1000",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.content[:3000]
    entry = last_change(affiliate)
    assert entry.actor == support
    assert entry.changes_dict["min_stock"] == ["2", "4"]


# --- payment methods -------------------------------------------------------------------------


def test_audit_payment_methods_added_made_default_and_removed(client, affiliate_user):
    affiliate = affiliate_user.affiliate
    first = CardFactory(affiliate=affiliate, is_default=True)

    # added on the Settings page, as the default
    client.post(
        reverse("affiliates:card-add"),
        {"card-number": "4242 4242 4242 4242", "card-expiry": "12/35", "card-make_default": "on"},
    )
    added = PaymentMethod.objects.exclude(pk=first.pk).get(affiliate=affiliate)

    created = entries_for(added, LogEntry.Action.CREATE)
    assert len(created) == 1
    assert created[0].actor == affiliate_user
    assert created[0].changes_dict["last4"] == ["None", "4242"]
    assert created[0].changes_dict["is_default"] == ["None", "True"]
    # the old default lost it, and that is in the log too (it was an update() before)
    unset = last_change(first)
    assert unset.actor == affiliate_user
    assert unset.changes_dict["is_default"] == ["True", "False"]

    # made default again on the page, then removed
    client.post(reverse("affiliates:payment-method-default", args=[first.pk]))
    assert last_change(first).changes_dict["is_default"] == ["False", "True"]
    assert last_change(added).changes_dict["is_default"] == ["True", "False"]
    client.post(reverse("affiliates:payment-method-remove", args=[added.pk]))
    deleted = entries_for(added, LogEntry.Action.DELETE)
    assert len(deleted) == 1
    assert deleted[0].actor == affiliate_user


def test_audit_default_payment_method_set_through_the_api(api_client):
    user = UserFactory()
    first = CardFactory(affiliate=user.affiliate, is_default=True)
    second = CardFactory(affiliate=user.affiliate, is_default=False)

    response = keyed_client(api_client, user).post(f"/api/v1/payment-methods/{second.pk}/default")

    assert response.status_code == 200
    assert last_change(second).actor == user
    assert last_change(second).changes_dict["is_default"] == ["False", "True"]
    assert last_change(first).actor == user
    assert last_change(first).changes_dict["is_default"] == ["True", "False"]


def test_audit_service_called_outside_a_request_is_logged_without_actor():
    user = UserFactory()
    first = CardFactory(affiliate=user.affiliate, is_default=True)
    second = CardFactory(affiliate=user.affiliate, is_default=False)

    payment_method_set_default(affiliate=user.affiliate, payment_method_id=second.pk)

    assert last_change(first).changes_dict["is_default"] == ["True", "False"]
    assert last_change(first).actor is None
    assert last_change(second).changes_dict["is_default"] == ["False", "True"]


# --- API keys --------------------------------------------------------------------------------


def test_audit_api_key_created_on_the_page_and_revoked_in_admin(client, affiliate_user):
    response = client.post(reverse("affiliates:api-key-create"), {"key-name": "Shop sync"})
    raw = response.context["new_api_key"]
    key = ApiKey.objects.get(user=affiliate_user)

    created = entries_for(key, LogEntry.Action.CREATE)
    assert len(created) == 1
    assert created[0].actor == affiliate_user
    assert created[0].changes_dict["name"] == ["None", "Shop sync"]
    assert "key_hash" not in created[0].changes_dict

    support = StaffFactory(group="Support")
    client.force_login(support)
    client.post(
        reverse("admin:affiliates_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )

    revoked = last_change(key)
    assert revoked.actor == support
    before, after = revoked.changes_dict["revoked_at"]
    assert before == "None"
    assert after != "None"
    # neither the key nor its hash is anywhere in the log
    everything = " ".join(str(e.changes) + e.object_repr for e in LogEntry.objects.all())
    assert raw not in everything
    assert key.key_hash not in everything
    assert raw[12:] not in everything


# --- warehouse settings ----------------------------------------------------------------------


def test_audit_warehouse_settings_changed_in_admin(client):
    support = StaffFactory(group="Support")
    warehouse = Warehouse.objects.create(code="WH1", name="One", state="TX", postal_code="75001")
    client.force_login(support)

    response = client.post(
        reverse("admin:inventory_warehouse_change", args=[warehouse.pk]),
        {
            "name": "One",
            "state": "OK",
            "postal_code": "73301",
            "feed_max_age": "2 00:00:00",
            "_save": "Save",
        },
    )
    client.post(
        reverse("admin:inventory_warehouse_changelist"),
        {"action": "deactivate", "_selected_action": [warehouse.pk]},
    )

    assert response.status_code == 302, response.content[:3000]
    updates = entries_for(warehouse, LogEntry.Action.UPDATE)
    assert [e.actor for e in updates] == [support, support]
    settings_change, deactivation = (e.changes_dict for e in updates)
    assert settings_change["state"] == ["TX", "OK"]
    assert settings_change["postal_code"] == ["75001", "73301"]
    assert settings_change["feed_max_age"] == ["1 day, 0:00:00", "2 days, 0:00:00"]
    assert deactivation == {"is_active": ["True", "False"]}


# --- staff permissions -----------------------------------------------------------------------


def test_audit_staff_status_groups_and_permissions_changed_by_a_superuser(client):
    root = StaffFactory(is_superuser=True)
    sam = StaffFactory(username="sam", group="Support")
    finance = Group.objects.get(name="Finance")
    support = Group.objects.get(name="Support")
    permission = Permission.objects.get(codename="add_user")
    client.force_login(root)

    response = client.post(
        reverse("admin:affiliates_user_change", args=[sam.pk]),
        {
            "username": "sam",
            "first_name": "",
            "last_name": "",
            "email": sam.email,
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [finance.pk],
            "user_permissions": [permission.pk],
            "affiliate": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.content[:3000]
    mine = [e for e in entries_for(sam) if e.actor == root]
    changes = {}
    for entry in mine:
        for field, change in entry.changes_dict.items():
            changes.setdefault(field, []).append(change)
    assert changes["is_superuser"] == [["False", "True"]]
    assert {"type": "m2m", "operation": "add", "objects": [str(finance)]} in changes["groups"]
    assert {"type": "m2m", "operation": "delete", "objects": [str(support)]} in changes["groups"]
    assert changes["user_permissions"] == [
        {"type": "m2m", "operation": "add", "objects": [str(permission)]}
    ]
    assert "password" not in changes
    assert "last_login" not in changes


def test_audit_group_permissions_changed_by_a_superuser(client):
    root = StaffFactory(is_superuser=True)
    support = Group.objects.get(name="Support")
    extra = Permission.objects.get(codename="delete_user")
    kept = list(support.permissions.values_list("pk", flat=True))
    client.force_login(root)

    response = client.post(
        reverse("admin:auth_group_change", args=[support.pk]),
        {"name": "Support", "permissions": [*kept, extra.pk]},
    )

    assert response.status_code == 302
    entry = last_change(support)
    assert entry.actor == root
    assert entry.changes_dict["permissions"] == {
        "type": "m2m",
        "operation": "add",
        "objects": [str(extra)],
    }


def test_audit_password_changes_leave_no_hash_in_the_log(client):
    root = StaffFactory(is_superuser=True)
    sam = StaffFactory(username="sam")
    client.force_login(root)

    client.post(
        reverse("admin:auth_user_password_change", args=[sam.pk]),
        {"password1": "another-long-passphrase", "password2": "another-long-passphrase"},
    )

    password_hash = User.objects.get(pk=sam.pk).password
    everything = " ".join(str(e.changes) for e in LogEntry.objects.all())
    assert password_hash not in everything


# --- reading the log in admin ----------------------------------------------------------------


@pytest.mark.parametrize("group", ["Support", "Finance"])
def test_audit_log_is_read_only_for_staff_in_admin(client, group):
    staff = StaffFactory(group=group)
    warehouse = Warehouse.objects.create(code="WH2")
    entry = last_change(warehouse)
    client.force_login(staff)

    listing = client.get(reverse("admin:auditlog_logentry_changelist"))
    page = client.get(reverse("admin:auditlog_logentry_change", args=[entry.pk]))
    changed = client.post(reverse("admin:auditlog_logentry_change", args=[entry.pk]), {})
    deleted = client.post(
        reverse("admin:auditlog_logentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    bulk = client.post(
        reverse("admin:auditlog_logentry_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )

    assert listing.status_code == 200
    assert b"WH2" in listing.content
    assert page.status_code == 200
    assert changed.status_code == 403
    assert deleted.status_code == 403
    assert bulk.status_code in (200, 302)
    assert LogEntry.objects.filter(pk=entry.pk).exists()

"""Issue 11, item 7: nobody in admin gives themselves (or anyone) more than they have.

Support and Finance log in to admin and try every path that could grant power or take over a
staff account: the user change form with extra POST fields, the password form, the add form,
bulk actions and the group admin. After each attempt the database is exactly as before.
"""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from affiliates.models import User
from tests.factories import PASSWORD, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-42"
# The fields a POST could smuggle in to grant power.
POWER_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")


@pytest.fixture
def people():
    return {
        "superuser": StaffFactory(username="root", is_superuser=True),
        "support": StaffFactory(username="sue", group="Support"),
        "other_support": StaffFactory(username="sam", group="Support"),
        "finance": StaffFactory(username="fay", group="Finance"),
        "affiliate_user": UserFactory(username="alice"),
    }


def snapshot(user: User) -> dict:
    user = User.objects.get(pk=user.pk)
    return {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "password": user.password,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "affiliate_id": user.affiliate_id,
        "groups": sorted(user.groups.values_list("pk", flat=True)),
        "permissions": sorted(user.user_permissions.values_list("pk", flat=True)),
    }


def everyone() -> dict:
    return {user.pk: snapshot(user) for user in User.objects.all()}


def change_url(user: User) -> str:
    return reverse("admin:affiliates_user_change", args=[user.pk])


def password_url(user: User) -> str:
    return reverse("admin:auth_user_password_change", args=[user.pk])


def power_post(target: User, **overrides) -> dict:
    """A change-form POST for `target` that also asks for every kind of power."""
    every_permission = list(Permission.objects.values_list("pk", flat=True))
    data = {
        "username": target.username,
        "first_name": "Renamed",
        "last_name": "",
        "email": "taken-over@example.com",
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "groups": [g.pk for g in Group.objects.all()],
        "user_permissions": every_permission,
        "affiliate": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "10:00:00",
        "_save": "Save",
    }
    data.update(overrides)
    return data


ATTACKERS = ["support", "finance"]
STAFF_TARGETS = ["superuser", "other_support", "support", "finance"]


@pytest.mark.parametrize("attacker", ATTACKERS)
@pytest.mark.parametrize("target", STAFF_TARGETS)
def test_admin_staff_accounts_are_out_of_reach_of_support_and_finance(
    client, people, attacker, target
):
    # given
    client.force_login(people[attacker])
    victim = people[target]
    before = everyone()

    # when: the change form, read and posted with an email change and every power field
    page = client.get(change_url(victim))
    posted = client.post(change_url(victim), power_post(victim))
    # ... and the password form, read and posted
    password_page = client.get(password_url(victim))
    password_posted = client.post(
        password_url(victim), {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    # then
    assert page.status_code in (302, 403, 404)
    assert posted.status_code in (302, 403, 404)
    assert password_page.status_code in (403, 404)
    assert password_posted.status_code in (403, 404)
    assert everyone() == before
    assert User.objects.get(pk=victim.pk).check_password(PASSWORD)


@pytest.mark.parametrize("field", POWER_FIELDS)
def test_admin_support_edits_an_affiliate_user_without_granting_power(client, people, field):
    # given
    client.force_login(people["support"])
    alice = people["affiliate_user"]
    before = snapshot(alice)
    everyone_else = {pk: s for pk, s in everyone().items() if pk != alice.pk}

    # when: a valid change (a new name and email) with one power field smuggled in
    data = {
        "username": alice.username,
        "first_name": "Alice",
        "last_name": "Archer",
        "email": "alice.archer@example.com",
        "is_active": "on",
        "affiliate": "",  # read-only for Support: a POST cannot move her either
        "_save": "Save",
    }
    data[field] = (
        "on"
        if field.startswith("is_")
        else list((Group if field == "groups" else Permission).objects.values_list("pk", flat=True))
    )
    response = client.post(change_url(alice), data)

    # then: the change is saved, the power is not
    assert response.status_code == 302, response.content[:2000]
    after = snapshot(alice)
    assert after["first_name"] == "Alice"
    assert after["email"] == "alice.archer@example.com"
    for key in ("is_staff", "is_superuser", "groups", "permissions", "affiliate_id", "password"):
        assert after[key] == before[key]
    assert {pk: s for pk, s in everyone().items() if pk != alice.pk} == everyone_else


def test_admin_support_form_has_no_power_fields(client, people):
    client.force_login(people["support"])

    page = client.get(change_url(people["affiliate_user"]))

    assert page.status_code == 200
    fields = page.context["adminform"].form.fields
    assert not set(POWER_FIELDS) & set(fields)
    assert "affiliate" not in fields  # shown, read-only


def test_admin_support_resets_an_affiliate_users_password(client, people):
    client.force_login(people["support"])
    alice = people["affiliate_user"]

    response = client.post(
        password_url(alice), {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert response.status_code == 302
    assert User.objects.get(pk=alice.pk).check_password(NEW_PASSWORD)


def test_admin_finance_reads_affiliate_users_and_changes_none(client, people):
    client.force_login(people["finance"])
    alice = people["affiliate_user"]
    before = everyone()

    page = client.get(change_url(alice))
    posted = client.post(change_url(alice), power_post(alice, affiliate=alice.affiliate_id))
    password = client.post(
        password_url(alice), {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert page.status_code == 200  # view only
    assert posted.status_code == 403
    assert password.status_code == 403
    assert everyone() == before


def test_admin_user_list_shows_support_only_affiliate_users(client, people):
    client.force_login(people["support"])

    page = client.get(reverse("admin:affiliates_user_changelist"))

    listed = {user.username for user in page.context["cl"].result_list}
    assert listed == {"alice"}


@pytest.mark.parametrize("attacker", ATTACKERS)
@pytest.mark.parametrize("action", ["delete_selected"])
def test_admin_bulk_actions_cannot_touch_staff(client, people, attacker, action):
    client.force_login(people[attacker])
    # Even with the delete permission, a bulk action only reaches the users Support may manage.
    people[attacker].user_permissions.add(Permission.objects.get(codename="delete_user"))
    before = everyone()
    staff_pks = [people[name].pk for name in STAFF_TARGETS]

    response = client.post(
        reverse("admin:affiliates_user_changelist"),
        {"action": action, "_selected_action": staff_pks, "post": "yes"},
    )

    assert response.status_code in (200, 302, 403)
    assert everyone() == before


@pytest.mark.parametrize("attacker", ATTACKERS)
def test_admin_group_admin_is_read_only_for_staff(client, people, attacker):
    # given: even a staff member somebody gave every group permission to
    user = people[attacker]
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="auth"))
    client.force_login(user)
    support = Group.objects.get(name="Support")
    before = sorted(support.permissions.values_list("pk", flat=True))
    groups_before = sorted(Group.objects.values_list("name", flat=True))
    every_permission = list(Permission.objects.values_list("pk", flat=True))

    # when
    added = client.post(
        reverse("admin:auth_group_add"), {"name": "Owners", "permissions": every_permission}
    )
    changed = client.post(
        reverse("admin:auth_group_change", args=[support.pk]),
        {"name": "Support", "permissions": every_permission},
    )
    deleted = client.post(reverse("admin:auth_group_delete", args=[support.pk]), {"post": "yes"})

    # then
    assert added.status_code == 403
    assert changed.status_code == 403
    assert deleted.status_code == 403
    assert sorted(Group.objects.values_list("name", flat=True)) == groups_before
    assert sorted(support.permissions.values_list("pk", flat=True)) == before


@pytest.mark.parametrize("attacker", ATTACKERS)
def test_admin_adding_a_user_grants_no_power(client, people, attacker):
    client.force_login(people[attacker])
    data = {
        "username": "mallory",
        "usable_password": "true",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "is_staff": "on",
        "is_superuser": "on",
        "groups": [g.pk for g in Group.objects.all()],
    }

    # without "add user" (neither group has it)
    refused = client.post(reverse("admin:affiliates_user_add"), data)
    assert refused.status_code == 403
    assert not User.objects.filter(username="mallory").exists()

    # with it, somebody having given it: the new account can only be an affiliate's user
    people[attacker].user_permissions.add(
        *Permission.objects.filter(codename__in=["add_user", "change_user"])
    )
    no_affiliate = client.post(reverse("admin:affiliates_user_add"), data)
    assert no_affiliate.status_code == 200  # the form asks for the affiliate
    assert not User.objects.filter(username="mallory").exists()

    client.post(
        reverse("admin:affiliates_user_add"),
        {**data, "affiliate": people["affiliate_user"].affiliate_id},
    )
    mallory = User.objects.get(username="mallory")
    assert not mallory.is_staff
    assert not mallory.is_superuser
    assert not mallory.groups.exists()
    assert not mallory.user_permissions.exists()


def test_admin_superuser_still_manages_staff(client, people):
    client.force_login(people["superuser"])
    sam = people["other_support"]
    finance = Group.objects.get(name="Finance")

    response = client.post(
        change_url(sam),
        power_post(sam, is_superuser="", groups=[finance.pk], user_permissions=[]),
    )
    reset = client.post(password_url(sam), {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert response.status_code == 302, response.content[:2000]
    sam.refresh_from_db()
    assert sam.is_staff
    assert not sam.is_superuser
    assert list(sam.groups.all()) == [finance]
    assert sam.email == "taken-over@example.com"
    assert reset.status_code == 302
    assert User.objects.get(pk=sam.pk).check_password(NEW_PASSWORD)


# --- many bad inputs: any mix of power fields, any target, either role -----------------------

POWER_VALUES = {
    "is_superuser": st.sampled_from(["on", "true", "1", "True", "yes"]),
    "is_staff": st.sampled_from(["on", "true", "1", "True", "yes"]),
    "groups": st.lists(st.sampled_from(["Support", "Finance"]), unique=True),
    "user_permissions": st.lists(
        st.sampled_from(["add_user", "change_user", "delete_user", "change_group"]), unique=True
    ),
    "affiliate": st.sampled_from(["other", "none"]),
}


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    attacker=st.sampled_from(ATTACKERS),
    target=st.sampled_from([*STAFF_TARGETS, "affiliate_user"]),
    smuggled=st.fixed_dictionaries({}, optional=POWER_VALUES),
    email=st.emails(),
)
def test_admin_no_mix_of_posted_fields_grants_power(
    client, people, attacker, target, smuggled, email
):
    # given
    client.force_login(people[attacker])
    victim = people[target]
    other_affiliate = UserFactory().affiliate
    before = everyone()
    data = {
        "username": victim.username,
        "first_name": "",
        "last_name": "",
        "email": email,
        "is_active": "on",
        "_save": "Save",
    }
    for field, value in smuggled.items():
        if field == "groups":
            value = list(Group.objects.filter(name__in=value).values_list("pk", flat=True))
        elif field == "user_permissions":
            value = list(Permission.objects.filter(codename__in=value).values_list("pk", flat=True))
        elif field == "affiliate":
            value = other_affiliate.pk if value == "other" else ""
        data[field] = value

    # when
    client.post(change_url(victim), data)
    client.post(password_url(victim), {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    # then: nobody's power, affiliate or staff email changed; no staff password changed
    after = everyone()
    for pk, state in after.items():
        was = before.get(pk)
        if was is None:
            continue
        for key in ("is_staff", "is_superuser", "groups", "permissions", "affiliate_id"):
            assert state[key] == was[key], (key, pk)
        if state["is_staff"] or state["is_superuser"] or attacker == "finance":
            assert state == was
    # Support may change an affiliate user's email and password: that is its job
    other_affiliate.users.all().delete()
    other_affiliate.delete()

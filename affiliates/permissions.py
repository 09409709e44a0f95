from rest_framework.permissions import BasePermission


class IsAffiliateUser(BasePermission):
    """The API is the affiliates' API: every request acts for exactly one affiliate."""

    message = "This API is for affiliate accounts."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "is_affiliate_user", False))

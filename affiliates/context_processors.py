def current_affiliate(request):
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and getattr(user, "affiliate_id", None):
        return {"current_affiliate": user.affiliate}
    return {}

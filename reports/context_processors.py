from reports.access import is_hr, is_leader


def navigation(request):
    """What the navigation may offer this user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_is_hr": False, "nav_is_leader": False}
    return {"nav_is_hr": is_hr(user), "nav_is_leader": is_hr(user) or is_leader(user)}

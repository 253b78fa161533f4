"""Kensa's own sign-in and sign-out pages, for everyone who uses the dashboards: operators are
not staff, so the admin's sign-in page (which refuses them) is no door for them.

Django's views do the work: CSRF on the form, a session key rotated on sign-in, and a `next`
followed only to this host (url_has_allowed_host_and_scheme), so the page cannot be used to send
a user elsewhere after signing in. Signing out is a POST. Repeated failures lock the user name
out from that address for a while (django-axes, config/settings.py).
"""

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

SIGNIN_LOCKED = "signin_locked"  # in inspection.errors.API_ERRORS, the one list of codes


class SignInView(auth_views.LoginView):
    template_name = "results/login.html"
    redirect_authenticated_user = True  # a signed-in user who opens the page goes to the dashboards


class SignOutView(auth_views.LogoutView):
    # Back to the sign-in page; set here, not as LOGOUT_REDIRECT_URL, which the admin's own
    # sign-out would follow too.
    next_page = "login"


def signin_locked(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """django-axes' answer once a user name has failed too often from this address: the sign-in
    page again, saying so, with 429 and Retry-After (error code `signin_locked`)."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        SignInView.template_name,
        {
            "form": AuthenticationForm(request),
            "locked_minutes": seconds // 60,
            "error_code": SIGNIN_LOCKED,
            "next": request.POST.get("next", ""),
        },
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


def signin_address(request: HttpRequest) -> str | None:
    """The address a sign-in is counted against: the socket's peer, never a forwarded header,
    which the guesser could change on every try."""
    return request.META.get("REMOTE_ADDR")

"""Kensa's own sign-in and sign-out pages, for everyone who uses the dashboards: operators are
not staff, so the admin's sign-in page (which refuses them) is no door for them.

Django's views do the work: CSRF on the form, a session key rotated on sign-in, and a `next`
followed only to this host (url_has_allowed_host_and_scheme), so the page cannot be used to send
a user elsewhere after signing in. Signing out is a POST.
"""

from django.contrib.auth import views as auth_views


class SignInView(auth_views.LoginView):
    template_name = "results/login.html"
    redirect_authenticated_user = True  # a signed-in user who opens the page goes to the dashboards


class SignOutView(auth_views.LogoutView):
    # Back to the sign-in page; set here, not as LOGOUT_REDIRECT_URL, which the admin's own
    # sign-out would follow too.
    next_page = "login"

from axes.admin import AccessAttemptAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin

from inspection.admin import ReadOnlyAdminMixin
from inspection.models import Defect
from lines.admin import LineLimitedAdminMixin, VisibleLineFilter
from results.mes import admin as mes_admin  # noqa: F401  (registers API clients)
from results.review import admin as review_admin  # noqa: F401  (QA review; re-registers inspections)
from results.webhooks import admin as webhooks_admin  # noqa: F401  (webhook subscriptions and deliveries)


@admin.register(Defect)
class DefectAdmin(LineLimitedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[Defect]):
    """Defects are the model's own output, written with the verdict: they are read here, never
    added, edited or deleted by hand (QA's judgement will be its own records beside them)."""

    list_display = ["inspection", "label", "confidence", "area"]
    list_filter = ["label", ("inspection__line", VisibleLineFilter)]
    line_field = "inspection__line_id"
    search_fields = ["inspection__serial", "label"]
    list_select_related = ["inspection__line"]
    raw_id_fields = ["inspection"]


# Sign-ins (django-axes, config/settings.py). Its own admin registration is off
# (AXES_ENABLE_ADMIN) so that these are Kensa's: its "clean up expired attempts" action asks for no
# permission, and its failure log stays unused.
@admin.register(AccessAttempt)
class SignInAttemptAdmin(AccessAttemptAdmin):
    """Failed sign-ins per user name and address; deleting one unlocks it at once."""

    actions: list[str] = []


@admin.register(AccessLog)
class SignInLogAdmin(ReadOnlyAdminMixin, AccessLogAdmin):
    """Who signed in and out, when and from where: a trail, read only."""

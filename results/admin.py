from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from inspection.admin import ReadOnlyAdminMixin
from inspection.models import Defect

if TYPE_CHECKING:
    from django.contrib.admin.options import _ListDisplayT  # the stubs' name for list_display's type

# How much of an API token the list shows to staff who may only look: enough to tell tokens apart.
TOKEN_PREFIX_SHOWN = 6


@admin.register(Defect)
class DefectAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Defect]):
    """Defects are the model's own output, written with the verdict: they are read here, never
    added, edited or deleted by hand (QA's judgement will be its own records beside them)."""

    list_display = ["inspection", "label", "confidence", "area"]
    list_filter = ["label"]
    search_fields = ["inspection__serial", "label"]
    list_select_related = ["inspection__line"]
    raw_id_fields = ["inspection"]


class ApiTokenAdmin(TokenAdmin):
    """The MES's API tokens. DRF's list shows every key in full, so anyone with `view` rights
    could sign in as the MES; only those who may change tokens (and so could issue one for any
    user anyway) see whole keys, the rest a prefix."""

    def get_list_display(self, request: HttpRequest) -> "_ListDisplayT[Any]":
        if self.has_change_permission(request):
            return super().get_list_display(request)
        return ("key_prefix", "user", "created")

    @admin.display(description="key")
    def key_prefix(self, obj: TokenProxy) -> str:
        return f"{obj.key[:TOKEN_PREFIX_SHOWN]}…"


admin.site.unregister(TokenProxy)
admin.site.register(TokenProxy, ApiTokenAdmin)

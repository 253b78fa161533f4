"""API clients in the admin: the token is shown once, when made or renewed."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from results.mes.constants import Scope
from results.mes.models import ApiClient
from results.mes.services import api_client_revoke, api_client_rotate_token


class ApiClientForm(forms.ModelForm[ApiClient]):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple, required=False)

    class Meta:
        model = ApiClient
        fields = ["name", "scopes", "all_lines", "lines"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("all_lines") and cleaned.get("lines"):
            raise forms.ValidationError("Choose either all lines or some lines, not both.")
        return cleaned


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin[ApiClient]):
    form = ApiClientForm
    list_display = ["name", "token_prefix", "scopes", "all_lines", "last_used_at", "revoked_at"]
    list_filter = ["all_lines", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "token_prefix"]
    filter_horizontal = ["lines"]
    readonly_fields = ["token_prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke", "renew_tokens"]

    def save_model(self, request: HttpRequest, obj: ApiClient, form: Any, change: bool) -> None:
        if not change:
            token = obj.set_new_token()
            messages.warning(request, f"API token for {obj.name} (shown once): {token}")
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected API clients", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        revoked = sum(api_client_revoke(client=client) for client in queryset)
        messages.success(request, f"Revoked {revoked} API clients.")

    @admin.action(description="Give the selected API clients new tokens", permissions=["change"])
    def renew_tokens(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        for client in queryset:
            token = api_client_rotate_token(client=client)
            messages.warning(request, f"New API token for {client.name} (shown once): {token}")

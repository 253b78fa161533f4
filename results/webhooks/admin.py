"""Webhooks in the admin: subscriptions (the secret shown once, on create and rotate), deliveries
with their attempts and "send again", and the attempts as a read-only audit trail."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from results.webhooks.constants import EventType
from results.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from results.webhooks.network import NetworkRefused, resolve_target
from results.webhooks.services import delivery_send_again, subscription_rotate_secret, subscription_start


class WrittenBySenderMixin:
    """Deliveries and attempts are written by the fan-out and the sender only: never added or
    edited by hand. They may be deleted with the delete right, as they are with their
    subscription or their inspection (the admin refuses to delete a row whose dependants it
    may not delete, and a QA lead deleting an inspection must not be stopped by its webhooks)."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class WebhookSubscriptionForm(forms.ModelForm[WebhookSubscription]):
    url = forms.URLField(max_length=2000, assume_scheme="https", help_text=WebhookSubscription.url.field.help_text)
    events = forms.MultipleChoiceField(
        choices=EventType.choices, widget=forms.CheckboxSelectMultiple, initial=[EventType.INSPECTION_FINISHED]
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "events", "all_lines", "lines", "active"]

    def clean_url(self) -> str:
        url = str(self.cleaned_data["url"])
        try:
            resolve_target(url)
        except NetworkRefused as exc:
            raise forms.ValidationError(f"Not an allowed receiver: {exc}.") from None
        return url

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("all_lines") and cleaned.get("lines"):
            raise forms.ValidationError("Choose either all lines or some lines, not both.")
        return cleaned


class WebhookAttemptInline(admin.TabularInline[WebhookAttempt, WebhookDelivery]):
    model = WebhookAttempt
    fields = ["at", "status_code", "error", "duration_ms"]
    readonly_fields = ["at", "status_code", "error", "duration_ms"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin[WebhookSubscription]):
    form = WebhookSubscriptionForm
    list_display = ["name", "url", "active", "all_lines", "disabled_at", "disabled_reason", "created_at"]
    list_filter = ["active", "all_lines"]
    search_fields = ["name", "url"]
    filter_horizontal = ["lines"]
    readonly_fields = ["created_at", "disabled_at", "disabled_reason", "previous_secret_expires_at"]
    actions = ["rotate_secrets"]

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool) -> None:
        if not change:
            secret = subscription_start(obj)
            messages.warning(request, f"Signing secret for {obj.name} (shown once): {secret}")
        elif "active" in form.changed_data and obj.active:
            obj.disabled_at, obj.disabled_reason = None, ""
        super().save_model(request, obj, form, change)

    @admin.action(description="Rotate the signing secrets of the selected subscriptions", permissions=["change"])
    def rotate_secrets(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            secret = subscription_rotate_secret(subscription=subscription)
            messages.warning(
                request,
                f"New signing secret for {subscription.name} (shown once): {secret}. The old one signs "
                f"too until {subscription.previous_secret_expires_at:%Y-%m-%d %H:%M:%S %Z}.",
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(WrittenBySenderMixin, admin.ModelAdmin[WebhookDelivery]):
    """Deliveries are made by the fan-out and written by the sender only; "send again" is the
    one thing a person does to one."""

    list_display = [
        "message_id",
        "subscription",
        "inspection",
        "state",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = ["state", "subscription", "event"]
    search_fields = ["message_id", "inspection__serial", "=inspection__id"]
    list_select_related = ["subscription", "inspection"]
    raw_id_fields = ["inspection"]
    inlines = [WebhookAttemptInline]
    actions = ["send_again"]

    def has_send_again_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.send_webhookdelivery")

    @admin.action(description="Send the selected deliveries again (same webhook-id)", permissions=["send_again"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = 0
        for delivery in queryset:
            delivery_send_again(delivery=delivery)
            count += 1
        messages.success(request, f"{count} deliveries will be sent again shortly.")


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(WrittenBySenderMixin, admin.ModelAdmin[WebhookAttempt]):
    list_display = ["delivery", "at", "status_code", "error", "duration_ms"]
    list_filter = ["status_code"]
    search_fields = ["delivery__message_id", "error"]
    list_select_related = ["delivery__subscription"]

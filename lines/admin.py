from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from lines.models import ProductionLine, Station
from lines.services import station_rotate_key


class StationInline(admin.TabularInline[Station, ProductionLine]):
    model = Station
    extra = 0
    fields = ["code", "name", "active", "key_prefix", "created_at"]
    readonly_fields = ["key_prefix", "created_at"]
    show_change_link = True


@admin.register(ProductionLine)
class ProductionLineAdmin(admin.ModelAdmin[ProductionLine]):
    list_display = ["code", "name", "priority", "active", "deadline_seconds", "latency_target_ms", "inspection_model"]
    list_filter = ["priority", "active"]
    search_fields = ["code", "name"]
    inlines = [StationInline]
    # The model registry re-registers this admin with its roll-back action (inspection/admin.py):
    # lines know no models.
    actions: list[Any] = []


@admin.register(Station)
class StationAdmin(admin.ModelAdmin[Station]):
    list_display = ["__str__", "name", "active", "key_prefix", "created_at"]
    list_filter = ["active", "line"]
    search_fields = ["code", "name", "line__code"]
    readonly_fields = ["key_prefix", "created_at"]
    actions = ["rotate_keys"]

    def save_model(self, request: HttpRequest, obj: Station, form: object, change: bool) -> None:
        if not change:
            key = obj.set_new_key()
            messages.warning(request, f"API key for {obj.line.code}/{obj.code} (shown once): {key}")
        super().save_model(request, obj, form, change)

    # A new key cuts the station off until it is given the new one: as much an edit of the
    # station as disabling it, so it takes the same (change) permission.
    @admin.action(description="Give the selected stations new API keys", permissions=["change"])
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[Station]) -> None:
        for station in queryset.select_related("line"):
            key = station_rotate_key(station=station)
            messages.warning(request, f"New API key for {station} (shown once): {key}")

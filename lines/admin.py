from typing import Any

from django.contrib import admin, messages
from django.db.models import Field, ForeignKey, Model, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest

from lines import accounts_admin  # noqa: F401  (users and groups)
from lines.models import ProductionLine, Station
from lines.selectors import line_limited, visible_line_ids_for_user
from lines.services import station_rotate_key


class LineLimitedAdminMixin:
    """For the admin of anything that belongs to a line: its list, its pages, its actions and
    its exports see only the user's lines (lines.selectors.visible_line_ids_for_user), so a
    row of another line is "not found" (the admin sends the user back to its index), and an
    action POSTed with its id leaves it alone. Line choices in forms are limited the same way.

    `line_field` is the lookup from the row to its line's id."""

    line_field = "line_id"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        return line_limited(queryset, visible_line_ids_for_user(request.user), self.line_field)

    def formfield_for_foreignkey(self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
        if db_field.related_model is ProductionLine and isinstance(formfield, ModelChoiceField):
            line_ids = visible_line_ids_for_user(request.user)
            formfield.queryset = line_limited(formfield.queryset, line_ids, "id")  # type: ignore[arg-type]
        return formfield


def visible_choices_filter(line_field: str, *related: str) -> type[admin.RelatedFieldListFilter]:
    """A list filter on a relation (a line, a station, a model) that offers only the choices on
    the user's lines: the stock filter would list every line's codes to everyone. `related`
    are select_related paths for the choices' names."""

    class VisibleChoicesFilter(admin.RelatedFieldListFilter):
        def field_choices(self, field: Field, request: HttpRequest, model_admin: Any) -> Any:
            related_model: type[Model] = field.related_model  # type: ignore[assignment]
            choices = related_model._default_manager.select_related(*related)
            choices = line_limited(choices, visible_line_ids_for_user(request.user), line_field)
            return [(str(choice.pk), str(choice)) for choice in choices]

    return VisibleChoicesFilter


VisibleLineFilter = visible_choices_filter("id")
VisibleStationFilter = visible_choices_filter("line_id", "line")


class StationInline(admin.TabularInline[Station, ProductionLine]):
    model = Station
    extra = 0
    fields = ["code", "name", "active", "key_prefix", "created_at"]
    readonly_fields = ["key_prefix", "created_at"]
    show_change_link = True


@admin.register(ProductionLine)
class ProductionLineAdmin(LineLimitedAdminMixin, admin.ModelAdmin[ProductionLine]):
    list_display = ["code", "name", "priority", "active", "deadline_seconds", "latency_target_ms", "inspection_model"]
    list_filter = ["priority", "active"]
    search_fields = ["code", "name"]
    inlines = [StationInline]
    # The model registry re-registers this admin with its roll-back action (inspection/admin.py):
    # lines know no models.
    actions: list[Any] = []
    line_field = "id"
    # The model is chosen by promotion and roll-back only (their own permission, recorded as
    # model events): editing a line's settings must not swap the model that judges its parts.
    readonly_fields = ["inspection_model"]


@admin.register(Station)
class StationAdmin(LineLimitedAdminMixin, admin.ModelAdmin[Station]):
    list_display = ["__str__", "name", "active", "key_prefix", "created_at"]
    list_filter = ["active", ("line", VisibleLineFilter)]
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

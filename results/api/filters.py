"""Filters of the result feed (GET /api/v1/results/). Every filter narrows the feed; the cursor
and the order stay those of the feed, so a filtered poller still sees each result once."""

from typing import Any

import django_filters as filters
from django.db.models import QuerySet

from inspection.constants import TERMINAL_STATUSES, Verdict
from inspection.ingest.fields import MAX_SERIAL_LENGTH
from results.api.parameters import StrictBooleanField, StrictDateTimeField
from results.mes.permissions import api_client_required, visible_line_by_code
from results.mes.selectors import acknowledged_by

CODE_LENGTH = 48


class StrictDateTimeFilter(filters.Filter):
    field_class = StrictDateTimeField


class StrictBooleanFilter(filters.Filter):
    field_class = StrictBooleanField


class ResultFilterSet(filters.FilterSet):
    line = filters.CharFilter(method="filter_line", max_length=CODE_LENGTH)
    station = filters.CharFilter(field_name="station__code", max_length=CODE_LENGTH)
    verdict = filters.ChoiceFilter(choices=Verdict.choices)
    status = filters.ChoiceFilter(choices=[(value, value) for value in TERMINAL_STATUSES])
    # A half-open range [after, before): consecutive windows neither overlap nor leave a gap.
    finished_after = StrictDateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = StrictDateTimeFilter(field_name="finished_at", lookup_expr="lt")
    serial = filters.CharFilter(field_name="serial", max_length=MAX_SERIAL_LENGTH)
    model = filters.CharFilter(field_name="model__name", max_length=200)
    model_version = filters.CharFilter(field_name="model__version", max_length=200)
    acknowledged = StrictBooleanFilter(method="filter_acknowledged")
    unacknowledged = StrictBooleanFilter(method="filter_unacknowledged")

    def filter_line(self, queryset: QuerySet, name: str, code: str) -> QuerySet:
        return queryset.filter(line_id=visible_line_by_code(self.request, code))

    def filter_acknowledged(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        if value is None:
            return queryset
        acknowledged = acknowledged_by(api_client_required(self.request))
        return queryset.filter(acknowledged if value else ~acknowledged)

    def filter_unacknowledged(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return self.filter_acknowledged(queryset, name, None if value is None else not value)

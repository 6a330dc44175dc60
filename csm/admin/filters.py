"""List filters the index's tiles link to, so that each list holds exactly what its tile counts."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from csm.accounts.selectors import QBR_DUE_AHEAD_DAYS, in_book, qbrs_due_soon


def in_book_filter(path: str = "") -> type[admin.SimpleListFilter]:
    """A "customer" filter: current customers only, or lost ones; `path` leads to the account."""

    class InBookFilter(admin.SimpleListFilter):
        title = "customer"
        parameter_name = "book"

        def lookups(self, request, model_admin):
            return [("current", "Current (not churned)"), ("lost", "Churned")]

        def queryset(self, request, queryset):
            if self.value() == "current":
                return in_book(queryset, path)
            if self.value() == "lost":
                return queryset.filter(**{f"{path}status": "churned"})
            return queryset

    return InBookFilter


class DueSoonFilter(admin.SimpleListFilter):
    title = "due"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("soon", f"Not written, due within {QBR_DUE_AHEAD_DAYS} days or late")]

    def queryset(self, request, queryset):
        if self.value() == "soon":
            return qbrs_due_soon(queryset, timezone.localdate())
        return queryset

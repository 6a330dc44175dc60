"""The catalogue the expansion and adoption rules read: plans, add-ons, features."""

from __future__ import annotations

from django.contrib import admin

from csm.admin.display import money_column
from csm.models import AddOn, Feature, Plan


@admin.register(AddOn)
class AddOnAdmin(admin.ModelAdmin):
    list_display = (
        "name", "key", "kind", money_column("price_per_seat", "Price per seat"),
        money_column("flat_price", "Flat price"), "order",
    )  # fmt: skip
    list_filter = ("kind",)


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", money_column("seat_price", "Seat price"))
    filter_horizontal = ("included",)


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "module")
    list_filter = ("module",)
    search_fields = ("name", "key")

"""The catalogue the expansion and adoption rules read: plans, add-ons, features."""

from __future__ import annotations

from django.contrib import admin

from csm.models import AddOn, Feature, Plan


@admin.register(AddOn)
class AddOnAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "kind", "price_per_seat", "flat_price", "order")
    list_filter = ("kind",)


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "seat_price")
    filter_horizontal = ("included",)


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "module")
    list_filter = ("module",)
    search_fields = ("name", "key")

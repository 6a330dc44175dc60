"""What every API endpoint shares: body limit, pagination, strict input, permissions."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import filters, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from agents_core.pagination import CountingPaginator


def exception_handler(exc, context):
    """DRF's handler, plus a JSON answer for a body over DATA_UPLOAD_MAX_MEMORY_SIZE.

    DRF parses JSON from `request.body`, so Django refuses an oversized body
    with RequestDataTooBig, which would otherwise become an HTML error page.
    """
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"Request body is larger than the {limit:,}-byte limit; send fewer rows per request."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return drf_exception_handler(exc, context)


class KnownQueryParameters(filters.BaseFilterBackend):
    """Refuse query parameters a list does not know (`?health=weak`, `?ordering=password`) with a 400
    naming them, instead of silently answering as if they were not there."""

    ALWAYS = {"page", "page_size", "format"}

    def filter_queryset(self, request, queryset, view):
        allowed = set(self.ALWAYS)
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None:
            allowed |= set(filterset_class.base_filters)
        if getattr(view, "search_fields", None):
            allowed.add(api_settings.SEARCH_PARAM)
        ordering_fields = getattr(view, "ordering_fields", None)
        if ordering_fields:
            allowed.add(api_settings.ORDERING_PARAM)
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown query parameter."] for name in unknown})
        if isinstance(ordering_fields, list | tuple):
            asked = request.query_params.get(api_settings.ORDERING_PARAM, "")
            wrong = [
                term
                for term in asked.split(",")
                if term.strip() and term.strip().lstrip("-") not in ordering_fields
            ]
            if wrong:
                choices = ", ".join(ordering_fields)
                raise serializers.ValidationError(
                    {
                        api_settings.ORDERING_PARAM: [
                            f"Cannot order by {', '.join(wrong)}; use one of {choices}."
                        ]
                    }
                )
        return queryset


class SearchFilter(filters.SearchFilter):
    """DRF's search, refusing NUL characters (PostgreSQL cannot compare them) with a 400."""

    def get_search_terms(self, request):
        # DRF checks the term itself, answering a bare list (["Null characters are not allowed."]);
        # the API's 400s name the parameter, as its schema says.
        if "\x00" in request.query_params.get(self.search_param, ""):
            raise serializers.ValidationError({self.search_param: ["Must not contain NUL characters."]})
        try:
            return super().get_search_terms(request)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({self.search_param: exc.detail}) from None


class Pagination(PageNumberPagination):
    """Pages of `page_size` (50, at most 500) with the list's `count`; a very long list's count is
    the database's estimate, labelled `count_is_estimate` (docs/api.md)."""

    page_size_query_param = "page_size"
    max_page_size = 500
    django_paginator_class = CountingPaginator

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.page.paginator.count,
                "count_is_estimate": self.page.paginator.estimated,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count_is_estimate"] = {
            "type": "boolean",
            "description": "True when `count` is the database's estimate, not a count (a list of "
            "TEND_ESTIMATED_COUNT_FROM rows or more, on PostgreSQL). Pages still go to the last row.",
        }
        answer["required"] = sorted({*answer.get("required", ["count", "results"]), "count_is_estimate"})
        return answer


class StrictSerializerMixin:
    """Reject fields the serializer does not know, instead of ignoring them.

    A typo in a field name (`renewal_data`) would otherwise be dropped
    silently and the client would believe it was saved.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict):
            known = set(self.fields)
            unknown = sorted(set(data) - known)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class ModelPermissions(DjangoModelPermissions):
    """Django's model permissions, with reading requiring the view permission too."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

"""What every API endpoint shares: body limit, pagination, strict input, permissions."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from rest_framework import filters, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import replace_query_param
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

    ALWAYS = {"page", "page_size", "after", "format"}

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
    """DRF's search, refusing NUL characters (PostgreSQL cannot compare them) with a 400.

    A view with a `search_queryset(queryset, terms)` method searches its own way (the accounts,
    on an index of their own); its `search_fields` still name the fields in the schema."""

    def filter_queryset(self, request, queryset, view):
        search = getattr(view, "search_queryset", None)
        if search is None:
            return super().filter_queryset(request, queryset, view)
        terms = self.get_search_terms(request)
        return search(queryset, terms) if terms else queryset

    def get_search_terms(self, request):
        # DRF checks the term itself, answering a bare list (["Null characters are not allowed."]);
        # the API's 400s name the parameter, as its schema says.
        if "\x00" in request.query_params.get(self.search_param, ""):
            raise serializers.ValidationError({self.search_param: ["Must not contain NUL characters."]})
        try:
            return super().get_search_terms(request)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({self.search_param: exc.detail}) from None


MAX_ID = 2**63 - 1  # the largest primary key a database here holds


class Pagination(PageNumberPagination):
    """Pages of `page_size` (50, at most 500) with the list's `count`; a very long list's count is
    the database's estimate, labelled `count_is_estimate` (docs/api.md).

    Or keyset pages, asked for with `after` (0 for the first): the rows whose id is above it, in id
    order, however many are added or removed meanwhile, each read off the primary key without
    counting or skipping what came before. Their `count` is taken on the first page and kept
    (KEYSET_COUNT_SECONDS) for the walk's next pages."""

    page_size_query_param = "page_size"
    max_page_size = 500
    django_paginator_class = CountingPaginator
    after_query_param = "after"
    KEYSET_COUNT_SECONDS = 600

    def paginate_queryset(self, queryset, request, view=None):
        self.keyset = self.after_query_param in request.query_params
        if not self.keyset:
            return super().paginate_queryset(queryset, request, view)
        if not self._has_keyset(view):
            raise serializers.ValidationError(
                {self.after_query_param: ["This list has no keyset pages; use page."]}
            )
        self.request = request
        after = self._after(request)
        size = self.get_page_size(request)
        rows = list(queryset.order_by("pk").filter(pk__gt=after)[: size + 1])
        self.more, rows = len(rows) > size, rows[:size]
        self.last_pk = rows[-1].pk if rows else after
        self.keyset_count = self._kept_count(queryset, request)
        return rows

    def _after(self, request) -> int:
        param = self.after_query_param
        problems = {}
        if self.page_query_param in request.query_params:
            problems[self.page_query_param] = [f"Ask for pages by `{param}` or by `page`, not both."]
        if request.query_params.get(api_settings.ORDERING_PARAM):
            problems[api_settings.ORDERING_PARAM] = [
                f"Pages by `{param}` are in id order; leave out ordering."
            ]
        raw = request.query_params.get(param, "")
        after = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else None
        if after is not None and after > MAX_ID:
            after = None
        if after is None:
            problems[param] = ["Must be 0 (the first page) or the id of the last row of the page before."]
        if problems:
            raise serializers.ValidationError(problems)
        return after

    def _kept_count(self, queryset, request) -> tuple[int, bool]:
        asked = sorted(
            (key, value)
            for key, values in request.query_params.lists()
            if key not in (self.after_query_param, self.page_size_query_param, "format")
            for value in values
        )
        key = (
            "tend:keyset-count:"
            + hashlib.sha256(repr((request.user.pk, request.path, asked)).encode()).hexdigest()
        )

        def count() -> tuple[int, bool]:
            paginator = CountingPaginator(queryset, 1)
            return paginator.count, paginator.estimated

        if request.query_params.get(self.after_query_param) == "0":
            kept = count()
            cache.set(key, kept, self.KEYSET_COUNT_SECONDS)
            return kept
        return cache.get_or_set(key, count, self.KEYSET_COUNT_SECONDS)

    def get_paginated_response(self, data):
        if self.keyset:
            count, estimated = self.keyset_count
            following = None
            if self.more:
                url = self.request.build_absolute_uri()
                following = replace_query_param(url, self.after_query_param, self.last_pk)
            return Response(
                {"count": count, "count_is_estimate": estimated, "next": following, "previous": None,
                 "results": data}
            )  # fmt: skip
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

    @staticmethod
    def _has_keyset(view) -> bool:
        """Lists of model rows have keyset pages; a list a view makes in Python (`keyset_pages = False`)
        has not."""
        return getattr(view, "keyset_pages", True)

    def get_schema_operation_parameters(self, view):
        if not self._has_keyset(view):
            return super().get_schema_operation_parameters(view)
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.after_query_param,
                "required": False,
                "in": "query",
                "description": "Keyset pages: 0 for the first, then the `next` link. The rows whose id is "
                "above it, in id order: none skipped or repeated while rows are added. Not with "
                "`page` or `ordering`; `previous` is null.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
            },
        ]


class UsernameField(serializers.SlugRelatedField):
    """A user named by username; one with a NUL character is refused with a 400 (PostgreSQL cannot
    compare text holding one, and no username does)."""

    default_error_messages = {"nul": "Must not contain NUL characters."}

    def __init__(self, **kwargs):
        super().__init__(slug_field="username", **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("nul")
        return super().to_internal_value(data)


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

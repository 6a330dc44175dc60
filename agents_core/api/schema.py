"""How the OpenAPI schema describes what every route may answer besides success.

Generated clients parse error bodies only when the schema describes them: every
operation documents 400 (the bad fields, or `detail`), 401, 403, 404 (no such
object, or a page past the last) and 429 (`detail`), unless the view
documents its own body for that status.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from agents_core.api.common import StrictSerializerMixin

ERROR = inline_serializer("Error", fields={"detail": serializers.CharField()})
# {"field": ["reason", ...], ...}, or {"detail": "..."} when the body itself is unreadable.
VALIDATION_ERROR = inline_serializer(
    "ValidationError",
    fields={"detail": serializers.CharField(required=False)},
)
ERRORS = {
    "400": OpenApiResponse(VALIDATION_ERROR, description="Bad input: each bad field with its reasons."),
    "401": OpenApiResponse(
        ERROR, description="No credentials, or a token that is unknown, expired or revoked."
    ),
    "403": OpenApiResponse(ERROR, description="Signed in, but not allowed (a read-only token writing, say)."),
    "404": OpenApiResponse(
        ERROR, description="No such object, or not yours to see (the same answer); or a page past the last."
    ),
    "429": OpenApiResponse(ERROR, description="Too many requests: wait as Retry-After says."),
}


class TendAutoSchema(AutoSchema):
    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(serializer, StrictSerializerMixin):
            schema["additionalProperties"] = False  # the server refuses unknown fields: say so
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status, documented in ERRORS.items():
            if "content" not in responses.get(status, {}):
                described = responses.get(status, {}).get("description")
                responses[status] = self._get_response_for_code(documented, status, direction=direction)
                if described:
                    responses[status]["description"] = described
        return responses
